"""Token Recycling (Luo et al., arXiv 2408.08696): draft trees from an adjacency matrix of the verifier's recycled
top-k candidates, BFS over a static template, verified losslessly in one forward inside ``model.generate``."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "token-recycling",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.token_recycling.recycling:generate",
    config="hf_tokens.generation.token_recycling.recycling:TokenRecyclingConfig",
    contract="hf_tokens.generation.token_recycling.recycling:contract",
    headline=Headline(
        "{t.ratio:.2f}x greedy generate, {pl.ratio:.2f}x HF prompt lookup, {acc.value:.2f} tokens/step "
        "({code.ratio:.2f}x on code); {stock.ratio:.2f}x without the verifier's oneDNN linears; SmolLM2 CPU "
        "{t.threads} thread, lossless",
        file="bench_results/speculative.json",
        rows={
            "t": {"method": "token-recycling", "metric": "tokens/s", "baseline": "greedy generate"},
            "pl": {"method": "token-recycling", "metric": "tokens/s", "baseline": "prompt lookup (HF)"},
            "acc": {"method": "token-recycling", "metric": "accepted tokens/step"},
            "code": {"method": "token-recycling", "metric": "tokens/s (code)"},
            "stock": {"method": "token-recycling, stock linears", "metric": "tokens/s"},
        },
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
