"""TokenAdapt: tokenizer transplantation with a hybrid local + global embedding initialisation (arXiv:2505.09738).

Registers the method; the implementation lives in :mod:`.initializer` (the heuristic), :mod:`.converter` (the
one-object API) and the shared :func:`hf_tokens.tokenizers.transplant`. Supertokens:
:mod:`hf_tokens.tokenizers.supertokens`.
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "tokenadapt",
    status="experimental",
    extension="tokenizers",
    card_kind="tokenizer",
    entry="hf_tokens.tokenizers.tokenadapt.converter:TokenAdaptConverter",
    config="hf_tokens.tokenizers.tokenadapt.config:TokenAdaptConfig",
    contract="hf_tokens.tokenizers.tokenadapt.converter:contract",
    demo="hf_tokens.tokenizers.tokenadapt.converter:demo",
    headline=Headline(
        "zero-shot ppl/char ratio vs original, SmolLM2 -> GPT-2/Qwen3/Mistral tokenizers: "
        "{g.ratio:.2f}/{q.ratio:.2f}/{m.ratio:.2f} (mean init {mg.ratio:.2f}/{mq.ratio:.2f}/{mm.ratio:.2f}); "
        "supertokens {s.change:+.0%} chars/token",
        file="bench_results/tokenizer_transfer.json",
        rows={
            "g": {"method": "tokenadapt->gpt2", "metric": "ppl_per_char"},
            "q": {"method": "tokenadapt->qwen3", "metric": "ppl_per_char"},
            "m": {"method": "tokenadapt->mistral", "metric": "ppl_per_char"},
            "mg": {"method": "mean->gpt2", "metric": "ppl_per_char"},
            "mq": {"method": "mean->qwen3", "metric": "ppl_per_char"},
            "mm": {"method": "mean->mistral", "metric": "ppl_per_char"},
            "s": {"method": "tokenizer:supertokens", "metric": "chars_per_token"},
        },
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
