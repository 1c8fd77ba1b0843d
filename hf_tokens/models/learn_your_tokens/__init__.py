"""Learn Your Tokens: word-pooled byte LM (arXiv:2310.11628). The model: :mod:`.modeling`."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "learn-your-tokens",
    status="experimental",
    extension="models",
    entry="hf_tokens.models.learn_your_tokens.modeling:LearnYourTokensForCausalLM",
    config="hf_tokens.models.learn_your_tokens.modeling:LearnYourTokensConfig",
    contract="hf_tokens.models.learn_your_tokens.modeling:contract",
    headline=Headline(
        "toy scale (500 steps, 1 seed): next-word acc {a.value:.1%} (n={a.n}) vs subword {a.baseline_value:.1%}, "
        "bytes {y.baseline_value:.1%}, MEGABYTE peer {m.value:.1%} (rare words, n={r.n}: {r.value:.0%}, MEGABYTE "
        "{mr.value:.0%}); bits/byte x{b.ratio:.2f} of the byte LM (MEGABYTE x{mb.ratio:.2f})",
        file="bench_results/token_free_models.json",
        rows={
            "a": {"method": "learn-your-tokens", "metric": "next_word_acc_vs_subword"},
            "y": {"method": "learn-your-tokens", "metric": "next_word_acc_vs_bytes"},
            "r": {"method": "learn-your-tokens", "metric": "next_word_acc_rare"},
            "b": {"method": "learn-your-tokens", "metric": "bits_per_byte_vs_bytes"},
            "m": {"method": "megabyte", "metric": "next_word_acc"},
            "mr": {"method": "megabyte", "metric": "next_word_acc_rare"},
            "mb": {"method": "megabyte", "metric": "bits_per_byte_vs_bytes"},
        },
    ),
    benchmark=(
        "python benchmarks/token_free.py --part models --scale 2 --save-checkpoints "
        "--json bench_results/token_free_models.json"
    ),
    package="hf_tokens.models.learn_your_tokens",
    usage=(
        "from hf_tokens.models.learn_your_tokens import LearnYourTokensConfig, LearnYourTokensForCausalLM\n"
        "model = LearnYourTokensForCausalLM(LearnYourTokensConfig(byte_dim=64, word_dim=128))\n"
        'ids = torch.tensor([list("the cat sat ".encode())])\n'
        "loss = model(ids, labels=ids).loss  # next-byte cross-entropy; words decoded in parallel"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__, {"LearnYourTokensConfig": ".modeling", "LearnYourTokensForCausalLM": ".modeling"}
)
