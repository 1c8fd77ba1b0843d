"""DySpec (Xiong et al., arXiv 2410.11744): a draft model grows a dynamic token tree greedily by path probability,
verified losslessly in one forward inside ``model.generate``; works with a truncated-layer self-draft."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "dyspec",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.dyspec.dyspec:generate",
    config="hf_tokens.generation.dyspec.dyspec:DySpecConfig",
    contract="hf_tokens.generation.dyspec.dyspec:contract",
    headline=Headline(
        "{o.value:.2f}x plain greedy on the same oneDNN linears (median of {o.n} prompts, 95% CI "
        "[{o.ci95[0]:.2f}, {o.ci95[1]:.2f}]), {s.value:.2f}x on stock linears; {acc.value:.2f} tokens/step"
        ""
        "; lossless, SmolLM2 CPU 1 thread, 32 new tokens",
        file="bench_results/speculative.json",
        rows={
            "o": {"method": "dyspec, 8-layer self-draft [oneDNN]", "metric": "speed-up vs greedy, same kernel"},
            "s": {"method": "dyspec, 8-layer self-draft [stock]", "metric": "speed-up vs greedy, same kernel"},
            "acc": {"method": "dyspec, 8-layer self-draft [oneDNN]", "metric": "tokens/step"},
        },
    ),
    benchmark=(
        "OMP_NUM_THREADS=1 python benchmarks/speculative.py --threads 1 --max-new-tokens 32 --repeats 1 "
        "--json bench_results/speculative.json --plot bench_results/speculative.png"
    ),
    run_kwargs="hf_tokens.generation.dyspec.draft:run_kwargs",
    package="hf_tokens.generation.dyspec",
    usage=(
        "from hf_tokens.generation import dyspec\n"
        "draft = dyspec.truncated_draft(model, num_layers=8)  # shares the target's weights\n"
        "out = model.generate(**inputs, custom_generate=dyspec.generate, draft_model=draft, max_new_tokens=256)"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "generate": ".dyspec",
        "DySpecConfig": ".dyspec",
        "DySpecProposer": ".dyspec",
        "truncated_draft": ".draft",
        "check_draft": ".draft",
    },
)
