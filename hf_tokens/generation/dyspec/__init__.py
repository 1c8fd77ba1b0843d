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
        "{d.ratio:.2f}x greedy generate with an 8-layer self-draft ({acc.value:.2f} tokens/step); SmolLM2 CPU "
        "{d.threads} thread, lossless",
        file="bench_results/speculative.json",
        rows={
            "d": {"method": "dyspec, 8-layer self-draft", "metric": "tokens/s"},
            "acc": {"method": "dyspec, 8-layer self-draft", "metric": "accepted tokens/step"},
        },
    ),
    benchmark=(
        "OMP_NUM_THREADS=1 python benchmarks/speculative.py --threads 1 --per-kind 1 --repeats 3 --sweep 4,12,16 "
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
