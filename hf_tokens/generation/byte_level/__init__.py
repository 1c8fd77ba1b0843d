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
        "{d.pct.ci95[1]:.1f}], {d.wins} wins / {d.losses} losses) and {fixed.value:.1%} for the strongest baseline, "
        "fixed one-token healing (paired {df.pct.value:+.1f} pts, 95% CI [{df.pct.ci95[0]:.1f}, "
        "{df.pct.ci95[1]:.1f}]), {plain.value:.0%} plain; NLL of the true continuation {nll.value:.2f} vs "
        "{nll.baseline_value:.2f} nats/byte (trust mode, validity_tail=1); exact byte-level "
        "greedy {speed.ratio:.2f}x the bytes/s of token greedy for the same new bytes ({speed.value:.1f} vs "
        "{speed.baseline_value:.1f}, {speed.threads} thread); SmolLM2+Gemma mixture ensemble {ens.value:.3f} "
        "bits/byte vs {ens.baseline_value:.3f} best member",
        file="bench_results/byte_level.json",
        rows={
            "ours": {"method": "ours", "metric": "exact_match_next_line"},
            "hf": {"method": "hf_token_healing", "metric": "exact_match_next_line"},
            "fixed": {"method": "fixed_token_healing", "metric": "exact_match_next_line"},
            "plain": {"method": "plain", "metric": "exact_match_next_line"},
            "d": {"method": "ours", "metric": "exact_match_minus_hf_token_healing"},
            "df": {"method": "ours", "metric": "exact_match_minus_fixed_token_healing"},
            "nll": {"method": "ours_bytes_trust", "metric": "nll_true_continuation_nats_per_byte"},
            "speed": {
                "file": "bench_results/byte_level_throughput.json",
                "method": "byte_level_exact",
                "metric": "bytes_per_second",
            },
            "ens": {"method": "ensemble_mixture", "metric": "bits_per_byte_licenses"},
        },
    ),
    benchmark=(
        "python benchmarks/byte_level.py --json bench_results/byte_level.json  # speed: --sections throughput "
        "--json bench_results/byte_level_throughput.json"
    ),
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
