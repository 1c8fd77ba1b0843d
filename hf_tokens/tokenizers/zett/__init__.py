"""ZeTT: zero-shot tokenizer transfer with an embedding hypernetwork (Minixhofer et al., 2024, arXiv:2405.07883).

:mod:`.hypernetwork` (the model, ``predict``, :func:`load_hypernetwork`), :mod:`.training` (the stream of sampled
tokenizers, LM + auxiliary loss), :mod:`.initializer` (``transplant(..., method="zett", hypernetwork=...)``).
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "zett",
    status="experimental",
    extension="tokenizers",
    card_kind="tokenizer",
    entry="hf_tokens.tokenizers.zett.initializer:ZettConverter",
    config="hf_tokens.tokenizers.zett.training:ZettTrainingConfig",
    contract="hf_tokens.tokenizers.zett.initializer:contract",
    package="hf_tokens.tokenizers.zett",
    headline=Headline(
        "zero-shot ppl/char ratio vs original, SmolLM2 -> GPT-2/Qwen3/Mistral tokenizers (quick eval): ZeTT "
        "{zg.ratio:.2f}/{zq.ratio:.2f}/{zm.ratio:.2f}, TokenAdapt {tg.ratio:.2f}/{tq.ratio:.2f}/{tm.ratio:.2f}, "
        "mean {mg.ratio:.2f}/{mq.ratio:.2f}/{mm.ratio:.2f}; hypernetwork trained {h.steps} steps on CPU",
        file="bench_results/tokenizer_transfer_zett.json",
        rows={
            "zg": {"method": "zett->gpt2", "metric": "ppl_per_char"},
            "zq": {"method": "zett->qwen3", "metric": "ppl_per_char"},
            "zm": {"method": "zett->mistral", "metric": "ppl_per_char"},
            "tg": {"method": "tokenadapt->gpt2", "metric": "ppl_per_char"},
            "tq": {"method": "tokenadapt->qwen3", "metric": "ppl_per_char"},
            "tm": {"method": "tokenadapt->mistral", "metric": "ppl_per_char"},
            "mg": {"method": "mean->gpt2", "metric": "ppl_per_char"},
            "mq": {"method": "mean->qwen3", "metric": "ppl_per_char"},
            "mm": {"method": "mean->mistral", "metric": "ppl_per_char"},
            "h": {"file": "bench_results/zett_train.json", "method": "zett:train-lm-loss"},
        },
    ),
    benchmark=(
        "python benchmarks/zett_train.py --seconds 900 --out .cache/zett-smollm2 --json bench_results/zett_train.json"
        " && python benchmarks/tokenizer_transfer.py --quick --targets gpt2,qwen3,mistral --methods "
        "zett,tokenadapt,mean --zett-hypernetwork .cache/zett-smollm2 --no-tokensurgeon "
        "--json bench_results/tokenizer_transfer_zett.json"
    ),
    usage=(
        "from hf_tokens.tokenizers import transplant\n"
        "from hf_tokens.tokenizers.zett import ZettHypernetwork, train_hypernetwork, ZettTrainingConfig\n"
        "net = ZettHypernetwork.for_model(model, tokenizer)\n"
        "train_hypernetwork(net, model, tokenizer, ZettTrainingConfig(steps=200))\n"
        'new_model, new_tok = transplant(model, tokenizer, new_tokenizer, method="zett", hypernetwork=net)'
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ZettHypernetwork": ".hypernetwork",
        "ZettHypernetConfig": ".hypernetwork",
        "load_hypernetwork": ".hypernetwork",
        "ZettTrainingConfig": ".training",
        "train_hypernetwork": ".training",
        "sample_tokenizer": ".training",
        "ZettInitializer": ".initializer",
        "ZettConverter": ".initializer",
    },
)
