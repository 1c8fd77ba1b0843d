"""A LLaDA-style masked diffusion LM with FlashDLM's FreeCache and Guided Diffusion (arXiv:2505.21467). See
:mod:`.modeling` (the model class and training loss), :mod:`.convert` (start one from a pretrained AR model, as
Dream 7B does) and :mod:`.sampling` (iterative unmasking, FreeCache, guide)."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_LONG = "bench_results/diffusion_lm_smollm2_448.json"  # 448-token prompts (FlashDLM's case: long prompts)
_SHORT = "bench_results/diffusion_lm_smollm2.json"  # 192-token prompts, same model and settings

register(
    "diffusion-lm-cache",
    status="experimental",
    extension="models",
    entry="hf_tokens.models.diffusion_lm.modeling:DiffusionLMForMaskedLM",
    config="hf_tokens.models.diffusion_lm.modeling:DiffusionLMConfig",
    contract="hf_tokens.models.diffusion_lm.modeling:contract",
    headline=Headline(
        "SmolLM2-135M adapted to diffusion (26 CPU-min), 32 tokens after 448 / 192-token prompts: guided+FreeCache "
        "x{g.value:.2f} [{g.ci95[0]:.2f}, {g.ci95[1]:.2f}] / x{g2.value:.2f} vs plain unmasking in {s.value:.0f} "
        "steps (plain 32), token accuracy {ga.pct.value:+.0f} points [{ga.pct.ci95[0]:+.0f}, "
        "{ga.pct.ci95[1]:+.0f}]; FreeCache x{f.value:.2f} / x{f2.value:.2f} at equal accuracy "
        "({fa.pct.value:+.1f}); SmolLM2's own greedy x{ar.value:.1f} (n=16 prompts)",
        file=_LONG,
        rows={
            "g": {"method": "guided+freecache", "metric": "speedup_vs_plain"},
            "g2": {"file": _SHORT, "method": "guided+freecache", "metric": "speedup_vs_plain"},
            "s": {"method": "guided+freecache", "metric": "denoising_steps"},
            "ga": {"method": "guided+freecache", "metric": "token_accuracy_minus_plain"},
            "f": {"method": "freecache", "metric": "speedup_vs_plain"},
            "f2": {"file": _SHORT, "method": "freecache", "metric": "speedup_vs_plain"},
            "fa": {"method": "freecache", "metric": "token_accuracy_minus_plain"},
            "ar": {"method": "smollm2-greedy (AR)", "metric": "speedup_vs_plain"},
        },
    ),
    benchmark="python benchmarks/diffusion_lm.py --model .cache/diffusion_lm_smollm2 --prompts 16 --prompt-len 448 "
    "--threads 2 --json bench_results/diffusion_lm_smollm2_448.json",
    package="hf_tokens.models.diffusion_lm",
    usage=(
        "from hf_tokens.models.diffusion_lm import diffusion_lm_from_causal_lm, masked_diffusion_loss\n"
        "model = diffusion_lm_from_causal_lm(smollm2)  # Dream-style: bidirectional copy with shifted logits\n"
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
