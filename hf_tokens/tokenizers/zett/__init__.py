"""ZeTT: zero-shot tokenizer transfer with an embedding hypernetwork (Minixhofer et al., 2024, arXiv:2405.07883).

:mod:`.hypernetwork` (the model, ``predict``, :func:`load_hypernetwork`), :mod:`.training` (the stream of sampled
tokenizers, LM + auxiliary loss), :mod:`.initializer` (``transplant(..., method="zett", hypernetwork=...)``).
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

BASELINES = "bench_results/tokenizer_transfer_baselines.json"  # FOCUS and tokensurgeon (peers)
CT = "bench_results/tokenizer_transfer_ct.json"  # continued training after the transfer
LINEAR = "bench_results/tokenizer_transfer_zett_linear.json"  # the hypernetwork trained with an lr schedule
BIGVOCAB = "bench_results/tokenizer_transfer_zett_bigvocab.json"  # continued on larger sampled vocabularies

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
        "zero-shot ppl/char ratio vs original, SmolLM2 -> GPT-2/Qwen3/Mistral tokenizers (32k held-out chars, "
        "TokenAdapt embedding every new token): ZeTT {zg.ratio:.3f}/{zq.ratio:.3f}/{zm.ratio:.3f}, TokenAdapt "
        "{tg.ratio:.3f}/{tq.ratio:.3f}/{tm.ratio:.3f}, mean {mg.ratio:.3f}/{mq.ratio:.3f}/{mm.ratio:.3f}; "
        "hypernetwork trained {h.steps} steps (45 CPU-minutes; {hl.steps} steps with lr warm-up and linear decay: "
        "{lg.ratio:.3f}/{lq.ratio:.3f}/{lm.ratio:.3f}; the {h.steps}-step one continued {hb.steps} steps on "
        "16k-32k vocabularies: {bg.ratio:.3f}/{bq.ratio:.3f}/{bm.ratio:.3f}). Peers (quick eval, 4k chars): FOCUS "
        "(deepfocus, fastText on 4.2M chars) {fg.ratio:.2f}/{fq.ratio:.2f}/"
        "{fm.ratio:.2f}, mergekit tokensurgeon (subword) {sg.ratio:.2f}/{sq.ratio:.2f}/{sm.ratio:.2f}. GPT-2 after "
        "{o.ct_steps} continued-training steps (quick eval; same text and budget for every arm): ZeTT "
        "{z0.ratio:.3f} -> {z4.ratio:.3f}, TokenAdapt {t0.ratio:.3f} -> {t4.ratio:.3f}, mean {m0.ratio:.3f} -> "
        "{m4.ratio:.3f}; the original trained the same way {o.ratio:.3f}",
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
            "hl": {"file": "bench_results/zett_train_linear.json", "method": "zett:train-lm-loss"},
            "hb": {"file": "bench_results/zett_train_bigvocab.json", "method": "zett:train-lm-loss"},
            "bg": {"file": BIGVOCAB, "method": "zett->gpt2", "metric": "ppl_per_char"},
            "bq": {"file": BIGVOCAB, "method": "zett->qwen3", "metric": "ppl_per_char"},
            "bm": {"file": BIGVOCAB, "method": "zett->mistral", "metric": "ppl_per_char"},
            "lg": {"file": LINEAR, "method": "zett->gpt2", "metric": "ppl_per_char"},
            "lq": {"file": LINEAR, "method": "zett->qwen3", "metric": "ppl_per_char"},
            "lm": {"file": LINEAR, "method": "zett->mistral", "metric": "ppl_per_char"},
            "fg": {"file": BASELINES, "method": "focus->gpt2"},
            "fq": {"file": BASELINES, "method": "focus->qwen3"},
            "fm": {"file": BASELINES, "method": "focus->mistral"},
            "sq": {"file": BASELINES, "method": "tokensurgeon-subword->qwen3"},
            "sg": {"file": BASELINES, "method": "tokensurgeon-subword->gpt2"},
            "sm": {"file": BASELINES, "method": "tokensurgeon-subword->mistral"},
            "o": {"file": CT, "method": "original@100"},
            "z0": {"file": CT, "method": "zett->gpt2"},
            "z4": {"file": CT, "method": "zett->gpt2@100"},
            "t0": {"file": CT, "method": "tokenadapt->gpt2"},
            "t4": {"file": CT, "method": "tokenadapt->gpt2@100"},
            "m0": {"file": CT, "method": "mean->gpt2"},
            "m4": {"file": CT, "method": "mean->gpt2@100"},
        },
    ),
    benchmark=(
        "python benchmarks/zett_train.py --threads 1 --seconds 2700 --out .cache/zett-smollm2 "
        "--json bench_results/zett_train.json && python benchmarks/tokenizer_transfer.py --threads 1 "
        "--targets gpt2,qwen3,mistral --methods zett,tokenadapt,mean --zett-hypernetwork .cache/zett-smollm2 "
        "--no-tokensurgeon --json bench_results/tokenizer_transfer_zett.json  # lr schedule: zett_train.py ... "
        "--seconds 4200 --schedule linear --warmup 0.05 --out .cache/zett-smollm2-sched --json "
        "bench_results/zett_train_linear.json, then the same transfer run on it into "
        "bench_results/tokenizer_transfer_zett_linear.json; larger vocabularies: zett_train.py --init "
        ".cache/zett-smollm2 --seed 1 --vocab-min 16000 --vocab-max 32000 --fit-texts 400 --seconds 1800 --schedule "
        "linear --warmup 0.05 --lr 1e-4 --out .cache/zett-smollm2-big --json bench_results/zett_train_bigvocab.json, "
        "then the transfer run into bench_results/tokenizer_transfer_zett_bigvocab.json; continued training: python "
        "benchmarks/tokenizer_transfer.py --quick --threads 1 --targets gpt2 --methods zett,tokenadapt,mean "
        "--no-tokensurgeon --zett-hypernetwork .cache/zett-smollm2 --ct-steps 100 --ct-batch 2 --ct-chars 300 "
        "--json bench_results/tokenizer_transfer_ct.json; peers: python benchmarks/tokenizer_transfer.py --quick "
        "--targets gpt2,mistral,qwen3 --methods mean,tokensurgeon,focus --tokensurgeon-targets gpt2,mistral,qwen3 "
        "--json bench_results/tokenizer_transfer_baselines.json"
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
