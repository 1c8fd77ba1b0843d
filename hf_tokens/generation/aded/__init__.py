"""ADED (Liu et al., arXiv 2407.12021): an adaptive tri-gram representation of the LLM, MCTS draft trees balancing
exploration and exploitation, verified losslessly in one forward inside ``model.generate``."""

from hf_tokens.generation.speculative_headline import BENCHMARK, same_kernel_headline
from hf_tokens.registry import lazy_exports, register

register(
    "aded",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.aded.aded:generate",
    config="hf_tokens.generation.aded.aded:ADEDConfig",
    contract="hf_tokens.generation.aded.aded:contract",
    headline=same_kernel_headline("aded"),
    benchmark=BENCHMARK,
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
