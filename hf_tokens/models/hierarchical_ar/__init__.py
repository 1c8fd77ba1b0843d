"""Hierarchical autoregressive transformer, HAT (arXiv:2501.10322). The model: :mod:`.modeling`."""

from hf_tokens.models import TOKEN_FREE_MODELS_BENCHMARK
from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "hierarchical-ar",
    status="experimental",
    extension="models",
    entry="hf_tokens.models.hierarchical_ar.modeling:HierarchicalARForCausalLM",
    config="hf_tokens.models.hierarchical_ar.modeling:HierarchicalARConfig",
    contract="hf_tokens.models.hierarchical_ar.modeling:contract",
    headline=Headline(
        "toy scale (500 steps, {t.n_seeds} seeds): bits/byte change under typos {t.value:+.1%} vs subword "
        "{t.baseline_value:+.1%} (difference 95% CI {t.diff_ci95[0]:+.1%} to {t.diff_ci95[1]:+.1%}; MEGABYTE peer "
        "{mt.value:+.1%}), casing {c.value:+.1%} vs {c.baseline_value:+.1%} (MEGABYTE {mc.value:+.1%}); clean "
        "bits/byte x{bb.ratio:.3f} of the byte LM (difference 95% CI {bb.diff_ci95[0]:+.3f} to "
        "{bb.diff_ci95[1]:+.3f}), x{b.ratio:.2f} of subword (MEGABYTE x{mb.ratio:.2f})",
        file="bench_results/token_free_models_seeds.json",
        rows={
            "t": {"method": "hierarchical-ar", "metric": "bpb_change_typo"},
            "c": {"method": "hierarchical-ar", "metric": "bpb_change_case"},
            "b": {"method": "hierarchical-ar", "metric": "bits_per_byte_vs_subword"},
            "bb": {"method": "hierarchical-ar", "metric": "bits_per_byte_vs_bytes"},
            "mt": {"method": "megabyte", "metric": "bpb_change_typo"},
            "mc": {"method": "megabyte", "metric": "bpb_change_case"},
            "mb": {"method": "megabyte", "metric": "bits_per_byte_vs_subword"},
        },
    ),
    benchmark=TOKEN_FREE_MODELS_BENCHMARK,
    package="hf_tokens.models.hierarchical_ar",
    usage=(
        "from hf_tokens.models.hierarchical_ar import HierarchicalARConfig, HierarchicalARForCausalLM\n"
        "model = HierarchicalARForCausalLM(HierarchicalARConfig(byte_dim=64, word_dim=128))\n"
        'ids = torch.tensor([list("the cat sat ".encode())])\n'
        "out = model.generate(ids, max_new_tokens=8, do_sample=False)  # bytes out"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__, {"HierarchicalARConfig": ".modeling", "HierarchicalARForCausalLM": ".modeling"}
)
