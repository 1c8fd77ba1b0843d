"""TokenAdapt: tokenizer transplantation with a hybrid local + global embedding initialisation (arXiv:2505.09738).

Registers the method; the implementation lives in :mod:`.initializer` (the heuristic), :mod:`.converter` (the
one-object API) and the shared :func:`hf_tokens.tokenizers.transplant`. Supertokens:
:mod:`hf_tokens.tokenizers.supertokens`.
"""

from hf_tokens.registry import lazy_exports, register

register(
    "tokenadapt",
    status="experimental",
    extension="tokenizers",
    card_kind="tokenizer",
    entry="hf_tokens.tokenizers.tokenadapt.converter:TokenAdaptConverter",
    config="hf_tokens.tokenizers.tokenadapt.config:TokenAdaptConfig",
    contract="hf_tokens.tokenizers.tokenadapt.converter:contract",
    demo="hf_tokens.tokenizers.tokenadapt.converter:demo",
    headline=(
        "zero-shot ppl/char ratio vs original, SmolLM2 -> GPT-2/Qwen3/Mistral tokenizers: 1.14/1.21/1.25 "
        "(mean init 1.25/1.35/1.29); supertokens +18% chars/token"
    ),
    benchmark="python benchmarks/tokenizer_transfer.py --json bench_results/tokenizer_transfer.json",
    package="hf_tokens.tokenizers.tokenadapt",
    usage=(
        "from hf_tokens.tokenizers import transplant\n"
        'new_model, new_tok = transplant(model, tokenizer, new_tokenizer, method="tokenadapt")\n'
        'new_model.save_pretrained("out"); new_tok.save_pretrained("out")'
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TokenAdaptConverter": ".converter",
        "TokenAdaptConfig": ".config",
        "TokenAdaptInitializer": ".initializer",
    },
)
