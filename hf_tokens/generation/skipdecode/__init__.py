"""SkipDecode (arXiv 2307.02628): every position after the prompt skips lower/middle layers on a monotonically
decreasing budget shared by the batch, so the KV cache never needs the skipped layers; plus the fine-tuning recipe
that teaches a model its schedule."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_PPL = "held-out perplexity"
_SPEED = "speed-up vs plain greedy"

register(
    "skipdecode",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.skipdecode.skipdecode:generate",
    config="hf_tokens.generation.skipdecode.schedule:SkipDecodeConfig",
    contract="hf_tokens.generation.skipdecode.skipdecode:contract",
    package="hf_tokens.generation.skipdecode",
    headline=Headline(
        "SmolLM2, {mp.train_steps}-step CPU fine-tune per schedule: 30->18 layers {ms.value:.2f}x plain greedy "
        "speed at {mp.ratio:.1f}x held-out perplexity ({m0.ratio:.0f}x without the fine-tune); 24->12 layers "
        "{gs.value:.2f}x at {gp.ratio:.1f}x",
        file="bench_results/generation2_skipdecode.json",
        rows={
            "ms": {"method": "skipdecode mild (fine-tuned)", "metric": _SPEED},
            "mp": {"method": "skipdecode mild, fine-tuned", "metric": _PPL},
            "m0": {"method": "skipdecode mild, not fine-tuned", "metric": _PPL},
            "gs": {"method": "skipdecode aggressive (fine-tuned)", "metric": _SPEED},
            "gp": {"method": "skipdecode aggressive, fine-tuned", "metric": _PPL},
        },
    ),
    benchmark="OMP_NUM_THREADS=1 python benchmarks/generation2.py skipdecode --train-steps 15 --batch-size 2 "
    "--seq-len 96 --train-texts 60 --eval-texts 12 --gen-prompts 4 --new-tokens 48 --repeats 2 "
    "--json bench_results/generation2_skipdecode.json",
    usage=(
        "from hf_tokens.generation import skipdecode\n"
        "cfg = skipdecode.SkipDecodeConfig(min_layers=12, decay_tokens=128)  # SmolLM2: 30 -> 12 active layers\n"
        "out = model.generate(**inputs, custom_generate=skipdecode.generate, skipdecode_config=cfg)"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "generate": ".skipdecode",
        "SkipDecodeConfig": ".schedule",
        "skip_forward": ".schedule",
    },
)
