"""Token Recycling (Luo et al., arXiv 2408.08696): draft trees from an adjacency matrix of the verifier's recycled
top-k candidates, BFS over a static template, verified losslessly in one forward inside ``model.generate``."""

from hf_tokens.generation.speculative_headline import BENCHMARK, same_kernel_headline
from hf_tokens.registry import lazy_exports, register

register(
    "token-recycling",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.token_recycling.recycling:generate",
    config="hf_tokens.generation.token_recycling.recycling:TokenRecyclingConfig",
    contract="hf_tokens.generation.token_recycling.recycling:contract",
    headline=same_kernel_headline("token-recycling"),
    benchmark=BENCHMARK,
    package="hf_tokens.generation.token_recycling",
    usage=(
        "from hf_tokens.generation import token_recycling\n"
        "out = model.generate(**inputs, custom_generate=token_recycling.generate, max_new_tokens=256)\n"
        "# options: token_recycling_config=token_recycling.TokenRecyclingConfig(tree_size=8), decoding_stats={}"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "generate": ".recycling",
        "TokenRecyclingConfig": ".recycling",
        "TokenRecyclingProposer": ".recycling",
        "AdjacencyMatrix": ".recycling",
        "RANK_ACCEPTANCE": ".recycling",
    },
)
