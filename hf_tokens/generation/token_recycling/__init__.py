"""Token Recycling (Luo et al., arXiv 2408.08696): draft trees from an adjacency matrix of the verifier's recycled
top-k candidates, BFS over a static template, verified losslessly in one forward inside ``model.generate``."""

from hf_tokens.registry import lazy_exports, register

register(
    "token-recycling",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.token_recycling.recycling:generate",
    config="hf_tokens.generation.token_recycling.recycling:TokenRecyclingConfig",
    contract="hf_tokens.generation.token_recycling.recycling:contract",
    headline=(
        "1.17x greedy generate, 1.04x HF prompt lookup, 1.85 tokens/step (1.85x on code); 1.01x without the "
        "verifier's oneDNN linears; SmolLM2 CPU 1 thread, lossless"
    ),
    benchmark=(
        "OMP_NUM_THREADS=1 python benchmarks/speculative.py --threads 1 --per-kind 1 --repeats 3 --sweep 4,12,16 "
        "--json bench_results/speculative.json --plot bench_results/speculative.png"
    ),
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
