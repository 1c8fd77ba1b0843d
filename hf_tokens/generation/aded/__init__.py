"""ADED (Liu et al., arXiv 2407.12021): an adaptive tri-gram representation of the LLM, MCTS draft trees balancing
exploration and exploitation, verified losslessly in one forward inside ``model.generate``."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "aded",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.aded.aded:generate",
    config="hf_tokens.generation.aded.aded:ADEDConfig",
    contract="hf_tokens.generation.aded.aded:contract",
    headline=Headline(
        "{a.ratio:.2f}x greedy generate ({code.ratio:.2f}x on code), {acc.value:.2f} tokens/step; SmolLM2 CPU "
        "{a.threads} thread, lossless",
        file="bench_results/speculative.json",
        rows={
            "a": {"method": "aded", "metric": "tokens/s"},
            "code": {"method": "aded", "metric": "tokens/s (code)"},
            "acc": {"method": "aded", "metric": "accepted tokens/step"},
        },
    ),
    benchmark=(
        "OMP_NUM_THREADS=1 python benchmarks/speculative.py --threads 1 --per-kind 1 --repeats 3 --sweep 4,12,16 "
        "--json bench_results/speculative.json --plot bench_results/speculative.png"
    ),
    package="hf_tokens.generation.aded",
    usage=(
        "from hf_tokens.generation import aded\n"
        "out = model.generate(**inputs, custom_generate=aded.generate, max_new_tokens=256,\n"
        "                     aded_config=aded.ADEDConfig(tree_size=16, simulations=48))"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {"generate": ".aded", "ADEDConfig": ".aded", "ADEDProposer": ".aded", "TrigramTable": ".aded"},
)
