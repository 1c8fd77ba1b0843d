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
        "{o.value:.2f}x plain greedy on the same oneDNN linears (median of {o.n} prompts, 95% CI "
        "[{o.ci95[0]:.2f}, {o.ci95[1]:.2f}]), {s.value:.2f}x on stock linears; {acc.value:.2f} tokens/step"
        "; HF prompt lookup on the same kernel {pl.value:.2f}x"
        "; lossless, SmolLM2 CPU 1 thread, 32 new tokens",
        file="bench_results/speculative.json",
        rows={
            "o": {"method": "token-recycling [oneDNN]", "metric": "speed-up vs greedy, same kernel"},
            "s": {"method": "token-recycling [stock]", "metric": "speed-up vs greedy, same kernel"},
            "acc": {"method": "token-recycling [oneDNN]", "metric": "tokens/step"},
            "pl": {"method": "prompt lookup (HF) [oneDNN]", "metric": "speed-up vs greedy, same kernel"},
        },
    ),
    benchmark=(
        "OMP_NUM_THREADS=1 python benchmarks/speculative.py --threads 1 --max-new-tokens 32 --repeats 1 "
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
