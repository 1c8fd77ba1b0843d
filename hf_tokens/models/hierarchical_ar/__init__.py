"""Hierarchical autoregressive transformer, HAT (arXiv:2501.10322). The model: :mod:`.modeling`."""

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
        "toy scale (500 steps, 1 seed): bits/byte change under typos {t.value:+.1%} (subword {t.baseline_value:+.1%}, "
        "MEGABYTE peer {mt.value:+.1%}), casing {c.value:+.1%} (subword {c.baseline_value:+.1%}, MEGABYTE "
        "{mc.value:+.1%}); clean bits/byte x{b.ratio:.2f} of subword (MEGABYTE x{mb.ratio:.2f})",
        file="bench_results/token_free_models.json",
        rows={
            "t": {"method": "hierarchical-ar", "metric": "bpb_change_typo"},
            "c": {"method": "hierarchical-ar", "metric": "bpb_change_case"},
            "b": {"method": "hierarchical-ar", "metric": "bits_per_byte_vs_subword"},
            "mt": {"method": "megabyte", "metric": "bpb_change_typo"},
            "mc": {"method": "megabyte", "metric": "bpb_change_case"},
            "mb": {"method": "megabyte", "metric": "bits_per_byte_vs_subword"},
        },
    ),
    benchmark=(
        "python benchmarks/token_free.py --part models --scale 2 --save-checkpoints "
        "--json bench_results/token_free_models.json"
    ),
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
