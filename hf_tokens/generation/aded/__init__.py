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
        "{o.value:.2f}x plain greedy on the same oneDNN linears (median of {o.n} prompts, 95% CI "
        "[{o.ci95[0]:.2f}, {o.ci95[1]:.2f}]), {s.value:.2f}x on stock linears; {acc.value:.2f} tokens/step"
        "; HF prompt lookup on the same kernel {pl.value:.2f}x"
        "; lossless, SmolLM2 CPU 1 thread, 32 new tokens",
        file="bench_results/speculative.json",
        rows={
            "o": {"method": "aded [oneDNN]", "metric": "speed-up vs greedy, same kernel"},
            "s": {"method": "aded [stock]", "metric": "speed-up vs greedy, same kernel"},
            "acc": {"method": "aded [oneDNN]", "metric": "tokens/step"},
            "pl": {"method": "prompt lookup (HF) [oneDNN]", "metric": "speed-up vs greedy, same kernel"},
        },
    ),
    benchmark=(
        "OMP_NUM_THREADS=1 python benchmarks/speculative.py --threads 1 --max-new-tokens 32 --repeats 1 "
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
