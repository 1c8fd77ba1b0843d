"""A LLaDA-style masked diffusion LM with FlashDLM's FreeCache and Guided Diffusion (arXiv:2505.21467). See
:mod:`.modeling` (the model class and training loss), :mod:`.convert` (start one from a pretrained AR model, as
Dream 7B does) and :mod:`.sampling` (iterative unmasking, FreeCache, guide)."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "diffusion-lm-cache",
    status="experimental",
    extension="models",
    entry="hf_tokens.models.diffusion_lm.modeling:DiffusionLMForMaskedLM",
    config="hf_tokens.models.diffusion_lm.modeling:DiffusionLMConfig",
    contract="hf_tokens.models.diffusion_lm.modeling:contract",
    headline=Headline(
        "toy 4-layer DLM, 32 tokens: guided by SmolLM2 {g.value:.0f} denoising steps (plain {p.value:.0f}), "
        "x{gs.value:.2f} wall-clock incl. the guide; FreeCache x{f.value:.2f} at {a.value:.0%} token agreement",
        file="bench_results/diffusion_lm.json",
        rows={
            "g": {"method": "guided+freecache", "metric": "denoising_steps"},
            "p": {"method": "plain", "metric": "denoising_steps"},
            "gs": {"method": "guided+freecache", "metric": "speedup_vs_plain"},
            "f": {"method": "freecache", "metric": "speedup_vs_plain"},
            "a": {"method": "freecache", "metric": "agreement_with_plain"},
        },
    ),
    benchmark="python benchmarks/diffusion_lm.py --quick --prompts 6 --json bench_results/diffusion_lm.json",
    package="hf_tokens.models.diffusion_lm",
    usage=(
        "from hf_tokens.models.diffusion_lm import DiffusionLMConfig, DiffusionLMForMaskedLM, masked_diffusion_loss\n"
        "model = DiffusionLMForMaskedLM(DiffusionLMConfig())  # SmolLM2 vocabulary + a mask token\n"
        "loss = masked_diffusion_loss(model, ids)  # LLaDA: random mask ratio t, 1/t-weighted CE on masked tokens\n"
        "out = model.generate(prompt, max_new_tokens=32, block_length=16, freecache=True, guide=smollm2)"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DiffusionLMConfig": ".modeling",
        "DiffusionLMForMaskedLM": ".modeling",
        "masked_diffusion_loss": ".modeling",
        "diffusion_generate": ".sampling",
        "diffusion_lm_from_causal_lm": ".convert",
    },
)
