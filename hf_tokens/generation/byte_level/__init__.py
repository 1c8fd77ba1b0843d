"""Exact byte-level probabilities from a token LM (Phan et al., arXiv 2410.09303): next-byte distributions by the
Byte-Token Representation Lemma, byte-level decoding as a ``custom_generate`` strategy, a prompt-boundary (FIM) fix,
and cross-vocabulary ensembles."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "byte-level-probs",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.byte_level.lm:ByteLevelLM",
    config="hf_tokens.generation.byte_level.config:ByteLevelConfig",
    contract="hf_tokens.generation.byte_level.contract:contract",
    demo="hf_tokens.generation.byte_level.demo:demo",
    headline=Headline(
        "{ours.n} code prompts cut mid-token: next-line exact match {ours.value:.1%} (bytes_then_tokens) vs "
        "{hf.value:.1%} stock token_healing (paired {d.pct.value:+.1f} pts, 95% CI [{d.pct.ci95[0]:.1f}, "
        "{d.pct.ci95[1]:.1f}], {d.wins} wins / {d.losses} losses), {fixed.value:.1%} fixed healing, {plain.value:.0%} "
        "plain; NLL of the true continuation {nll.value:.2f} vs {nll.baseline_value:.2f} nats/byte; exact byte-level "
        "greedy {speed.value:.1f} bytes/s vs {speed.baseline_value:.1f} token greedy; SmolLM2+Gemma mixture ensemble "
        "{ens.value:.3f} bits/byte vs {ens.baseline_value:.3f} best member",
        file="bench_results/byte_level.json",
        rows={
            "ours": {"method": "ours", "metric": "exact_match_next_line"},
            "hf": {"method": "hf_token_healing", "metric": "exact_match_next_line"},
            "fixed": {"method": "fixed_token_healing", "metric": "exact_match_next_line"},
            "plain": {"method": "plain", "metric": "exact_match_next_line"},
            "d": {"method": "ours", "metric": "exact_match_minus_hf_token_healing"},
            "nll": {"method": "ours_bytes_trust", "metric": "nll_true_continuation_nats_per_byte"},
            "speed": {"method": "byte_level_exact", "metric": "bytes_per_second"},
            "ens": {"method": "ensemble_mixture", "metric": "bits_per_byte_licenses"},
        },
    ),
    benchmark="python benchmarks/byte_level.py --json bench_results/byte_level.json",
    package="hf_tokens.generation.byte_level",
    usage=(
        "from hf_tokens.generation import byte_level\n"
        "lm = byte_level.ByteLevelLM(model, tokenizer)\n"
        "p = lm.next_byte_distribution(b'def fib(n):\\n    ret')  # 257 probabilities, [256] = end of text\n"
        "out = model.generate(**tokenizer('def fib(n):\\n    ret', return_tensors='pt'),\n"
        "                     custom_generate=byte_level.generate, byte_tokenizer=tokenizer, max_new_tokens=16)"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ByteLevelLM": ".lm",
        "ByteState": ".state",
        "ByteLevelConfig": ".config",
        "ByteLevelEnsemble": ".ensemble",
        "ByteVocab": ".vocab",
        "CanonicalityChecker": ".canonical",
        "greedy_byte": ".decoding",
        "generate": ".custom_generate",
        "bytes_to_ids": ".decoding",
        "heal_tokens_fixed": ".healing",
    },
)
