"""The headline every speculative method shares: its same-kernel rows of ``bench_results/speculative.json``."""

from __future__ import annotations

from hf_tokens.results import Headline

BENCHMARK = (
    "OMP_NUM_THREADS=1 python benchmarks/speculative.py --threads 1 --max-new-tokens 32 --repeats 1 "
    "--json bench_results/speculative.json --plot bench_results/speculative.png"
)


def same_kernel_headline(method: str, *, with_prompt_lookup: bool = True) -> Headline:
    """``method``'s speed-up over plain greedy on the same oneDNN linears (median, CI, n), on stock linears, its
    tokens/step and, optionally, HF prompt lookup's speed-up on the same kernel."""
    rows = {
        "o": {"method": f"{method} [oneDNN]", "metric": "speed-up vs greedy, same kernel"},
        "s": {"method": f"{method} [stock]", "metric": "speed-up vs greedy, same kernel"},
        "acc": {"method": f"{method} [oneDNN]", "metric": "tokens/step"},
    }
    lookup = ""
    if with_prompt_lookup:
        rows["pl"] = {"method": "prompt lookup (HF) [oneDNN]", "metric": "speed-up vs greedy, same kernel"}
        lookup = "; HF prompt lookup on the same kernel {pl.value:.2f}x"
    return Headline(
        "{o.value:.2f}x plain greedy on the same oneDNN linears (median of {o.n} prompts, 95% CI "
        "[{o.ci95[0]:.2f}, {o.ci95[1]:.2f}]), {s.value:.2f}x on stock linears; {acc.value:.2f} tokens/step"
        + lookup
        + "; lossless, SmolLM2 CPU 1 thread, 32 new tokens",
        file="bench_results/speculative.json",
        rows=rows,
    )
