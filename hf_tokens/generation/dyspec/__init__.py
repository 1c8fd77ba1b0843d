"""DySpec (Xiong et al., arXiv 2410.11744): a draft model grows a dynamic token tree greedily by path probability,
verified losslessly in one forward inside ``model.generate``; works with a truncated-layer self-draft."""

from hf_tokens.generation.speculative_headline import BENCHMARK, same_kernel_headline
from hf_tokens.registry import lazy_exports, register

register(
    "dyspec",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.dyspec.dyspec:generate",
    config="hf_tokens.generation.dyspec.dyspec:DySpecConfig",
    contract="hf_tokens.generation.dyspec.dyspec:contract",
    headline=same_kernel_headline("dyspec, 8-layer self-draft", with_prompt_lookup=False),
    benchmark=BENCHMARK,
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
