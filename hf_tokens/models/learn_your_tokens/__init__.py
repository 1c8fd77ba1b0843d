"""Learn Your Tokens: word-pooled byte LM (arXiv:2310.11628). The model: :mod:`.modeling`."""

from hf_tokens.models import TOKEN_FREE_MODELS_BENCHMARK
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
        "toy scale (500 steps, {a.n_seeds} seeds): next-word acc {a.value:.1%} vs subword {a.baseline_value:.1%} "
        "(difference {a.diff_mean:+.1%}, 95% CI {a.diff_ci95[0]:+.1%} to {a.diff_ci95[1]:+.1%}; {a.n} positions per "
        "seed), bytes {y.baseline_value:.1%}, MEGABYTE peer {m.value:.1%}; bits/byte x{b.ratio:.3f} of the byte LM "
        "(difference 95% CI {b.diff_ci95[0]:+.3f} to {b.diff_ci95[1]:+.3f}; MEGABYTE x{mb.ratio:.2f})",
        file="bench_results/token_free_models_seeds.json",
        rows={
            "a": {"method": "learn-your-tokens", "metric": "next_word_acc_vs_subword"},
            "y": {"method": "learn-your-tokens", "metric": "next_word_acc_vs_bytes"},
            "b": {"method": "learn-your-tokens", "metric": "bits_per_byte_vs_bytes"},
            "m": {"method": "megabyte", "metric": "next_word_acc"},
            "mb": {"method": "megabyte", "metric": "bits_per_byte_vs_bytes"},
        },
    ),
    benchmark=TOKEN_FREE_MODELS_BENCHMARK,
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
