"""ZeTT: zero-shot tokenizer transfer with an embedding hypernetwork (Minixhofer et al., 2024, arXiv:2405.07883).

:mod:`.hypernetwork` (the model, ``predict``, :func:`load_hypernetwork`), :mod:`.training` (the stream of sampled
tokenizers, LM + auxiliary loss), :mod:`.initializer` (``transplant(..., method="zett", hypernetwork=...)``).
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

BASELINES = "bench_results/tokenizer_transfer_baselines.json"  # FOCUS and tokensurgeon (peers)
CT = "bench_results/tokenizer_transfer_ct.json"  # continued training after the transfer (earlier hypernetwork)
CT300 = "bench_results/tokenizer_transfer_ct300.json"  # ... for 300 steps
CT500 = "bench_results/tokenizer_transfer_ct500.json"  # ... for 500 steps (ZeTT and the original only)
HEADLINE = "bench_results/tokenizer_transfer_zett_ho.json"  # evaluation text held out, GPT-2 + Llama 3 patterns
HEADLINE_EN = "bench_results/tokenizer_transfer_zett_ho_man_en.json"  # ... on a held-out domain (man pages)
# earlier hypernetworks (GPT-2 pattern; their LM loss read part of the evaluation text), as ablations
FIRST = "bench_results/tokenizer_transfer_zett.json"  # the first 274 steps, alone
BIGVOCAB = "bench_results/tokenizer_transfer_zett_bigvocab.json"  # continued on larger sampled vocabularies
ABSENT = "bench_results/tokenizer_transfer_zett_absent_pool.json"  # ... with absent-token distractors
FOREIGN = "bench_results/tokenizer_transfer_zett_absent.json"  # ... half of them synthetic other-script strings
LLAMA3 = "bench_results/tokenizer_transfer_zett_llama3.json"  # + sampled Llama 3 / Qwen pre-tokenization
CONTROL = "bench_results/tokenizer_transfer_zett_ctl.json"  # its control: the same steps, GPT-2 pattern only
TARGETS = {"g": "gpt2", "q": "qwen3", "m": "mistral", "k": "kl3m", "c": "kl3m-char"}


def _per_target(prefix: str, method: str, metric: str, file: str, shorts: str = "gqm") -> dict[str, dict[str, str]]:
    """Headline aliases ``prefix + target letter`` for the rows ``method.format(target)`` / ``metric`` of ``file``."""
    return {
        f"{prefix}{short}": {"file": file, "method": method.format(TARGETS[short]), "metric": metric}
        for short in shorts
    }


def _zett_rows(prefix: str, file: str, shorts: str = "gqm") -> dict[str, dict[str, str]]:
    """ZeTT's ppl/char rows of ``file``."""
    return _per_target(prefix, "zett->{}", "ppl_per_char", file, shorts)


def _ci(alias: str) -> str:
    return f"{{{alias}.value:.3f}} [{{{alias}.ci_low:.3f}}, {{{alias}.ci_high:.3f}}]"


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
        "zero-shot ppl/char ratio vs original, SmolLM2 -> GPT-2/Qwen3/Mistral/KL3M-32k/KL3M-char-8k tokenizers "
        "(32k chars of fortunes/Jargon File text that no training step of the hypernetwork read; TokenAdapt "
        "embedding every new token): ZeTT {zg.ratio:.3f}/{zq.ratio:.3f}/{zm.ratio:.3f}/{zk.ratio:.3f}/{zc.ratio:.2f}, "
        "TokenAdapt {tg.ratio:.3f}/{tq.ratio:.3f}/{tm.ratio:.3f}/{tk.ratio:.3f}/{tc.ratio:.2f}, mean "
        "{mg.ratio:.3f}/{mq.ratio:.3f}/{mm.ratio:.3f}/{mk.ratio:.3f}/{mc.ratio:.2f}; ZeTT/TokenAdapt per-text ratio "
        "with 95% paired-bootstrap interval over {ig.n_texts} texts: "
        f"GPT-2 {_ci('ig')}, Qwen3 {_ci('iq')}, Mistral {_ci('im')}, KL3M-32k {_ci('ik')}, KL3M-char {_ci('ic')}; "
        "on English manual pages, a domain no training step read ({eg.n_texts} texts, "
        "{eng.value:.1%}/{enq.value:.1%}/{enm.value:.1%} new tokens): "
        f"GPT-2 {_ci('eg')}, Qwen3 {_ci('eq')}, Mistral {_ci('em')}. "
        "Initialisers differ only on new tokens (no row to copy: {ng.value:.1%}/{nq.value:.1%}/{nm.value:.1%}/"
        "{nk.value:.1%}/{nc.value:.1%} of the evaluation tokens) and in the softmax. Hypernetwork: {h.steps} steps "
        "from scratch on sampled tokenizers with GPT-2 or Llama 3 pre-tokenization, then {ha.steps} steps on "
        "16k-32k vocabularies with 8192 absent-token distractors (tokens of earlier sampled tokenizers) per step in "
        "the softmax ({h.threads}, then {ha.threads} CPU threads; budget in bench_results/zett_train_ho*.json). "
        "Ablations on earlier hypernetworks (GPT-2 pattern only; their LM loss read ~12% of the evaluation text; "
        "GPT-2/Qwen3/Mistral): {o0.steps} + {a0.steps} steps with distractors {ag.ratio:.3f}/{aq.ratio:.3f}/"
        "{am.ratio:.3f}, the same tokenizers and texts without them ({hb.steps} steps) {bg.ratio:.3f}/"
        "{bq.ratio:.3f}/{bm.ratio:.3f}, half of them synthetic other-script strings ({hf.steps} steps) "
        "{xg.ratio:.3f}/{xq.ratio:.3f}/{xm.ratio:.3f}, the first {o0.steps} steps alone {og.ratio:.3f}/"
        "{oq.ratio:.3f}/{om.ratio:.3f}; {l3.steps} more steps sampling the Llama 3 pattern too: Qwen3 "
        "{lq.ratio:.3f} vs {cq.ratio:.3f} with the GPT-2 pattern only. Peers (quick eval, 4k chars): FOCUS "
        "(deepfocus, fastText on 4.2M chars) {fg.ratio:.2f}/{fq.ratio:.2f}/{fm.ratio:.2f}, mergekit tokensurgeon "
        "(subword) {sg.ratio:.2f}/{sq.ratio:.2f}/{sm.ratio:.2f}. GPT-2 after {o.ct_steps} continued-training "
        "steps (the earlier hypernetwork with distractors, quick eval; same text and budget for every arm): ZeTT "
        "{z0.ratio:.3f} -> {z4.ratio:.3f}, TokenAdapt {t0.ratio:.3f} -> {t4.ratio:.3f}, mean {m0.ratio:.3f} -> "
        "{m4.ratio:.3f}; the original trained the same way {o.ratio:.3f} (ZeTT x{z4.vs_original_ct:.3f} of it, "
        "TokenAdapt x{t4.vs_original_ct:.3f}); after {p.ct_steps} steps ZeTT {pz.ratio:.3f}, TokenAdapt "
        "{pt.ratio:.3f}, the original {p.ratio:.3f} (ZeTT x{pz.vs_original_ct:.4f} of it, TokenAdapt "
        "x{pt.vs_original_ct:.4f}); after {q.ct_steps} steps ZeTT {qz.ratio:.3f}, the original {q.ratio:.3f}: ZeTT "
        "x{qz.vs_original_ct:.4f} of it, within 5% (4 quick-eval texts: a small sample)",
        file=HEADLINE,
        rows={
            **_per_target("z", "zett->{}", "ppl_per_char", HEADLINE, "gqmkc"),
            **_per_target("t", "tokenadapt->{}", "ppl_per_char", HEADLINE, "gqmkc"),
            **_per_target("m", "mean->{}", "ppl_per_char", HEADLINE, "gqmkc"),
            **_per_target("i", "zett-vs-tokenadapt->{}", "per_text_ppl_per_char_ratio", HEADLINE, "gqmkc"),
            **_per_target("e", "zett-vs-tokenadapt->{}", "per_text_ppl_per_char_ratio", HEADLINE_EN),
            **_per_target("n", "tokenizer:{}", "new_token_share", HEADLINE, "gqmkc"),
            **_per_target("en", "tokenizer:{}", "new_token_share", HEADLINE_EN),
            "h": {"file": "bench_results/zett_train_ho.json", "method": "zett:train-lm-loss"},
            "ha": {"file": "bench_results/zett_train_ho_pool.json", "method": "zett:train-lm-loss"},
            "o0": {"file": "bench_results/zett_train.json", "method": "zett:train-lm-loss"},
            "a0": {"file": "bench_results/zett_train_absent_pool.json", "method": "zett:train-lm-loss"},
            "hf": {"file": "bench_results/zett_train_absent.json", "method": "zett:train-lm-loss"},
            "hb": {"file": "bench_results/zett_train_bigvocab.json", "method": "zett:train-lm-loss"},
            "l3": {"file": "bench_results/zett_train_llama3.json", "method": "zett:train-lm-loss"},
            "fg": {"file": BASELINES, "method": "focus->gpt2"},
            "fq": {"file": BASELINES, "method": "focus->qwen3"},
            "fm": {"file": BASELINES, "method": "focus->mistral"},
            "sq": {"file": BASELINES, "method": "tokensurgeon-subword->qwen3"},
            "sg": {"file": BASELINES, "method": "tokensurgeon-subword->gpt2"},
            "sm": {"file": BASELINES, "method": "tokensurgeon-subword->mistral"},
            **_zett_rows("a", ABSENT),
            **_zett_rows("x", FOREIGN),
            **_zett_rows("b", BIGVOCAB),
            **_zett_rows("o", FIRST),
            **_zett_rows("c", CONTROL, "q"),
            **_zett_rows("l", LLAMA3, "q"),
            "q": {"file": CT500, "method": "original@500"},
            "qz": {"file": CT500, "method": "zett->gpt2@500"},
            "p": {"file": CT300, "method": "original@300"},
            "pz": {"file": CT300, "method": "zett->gpt2@300"},
            "pt": {"file": CT300, "method": "tokenadapt->gpt2@300"},
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
        "python benchmarks/zett_train.py --threads 1 --steps 274 --seconds 6000 --hold-out-eval --pretokenizers "
        "gpt2,llama3 --out .cache/zett-smollm2-ho --json bench_results/zett_train_ho.json && python "
        "benchmarks/zett_train.py --threads 2 --init .cache/zett-smollm2-ho --seed 1 --steps 150 --seconds 8000 "
        "--fit-texts 400 --vocab-min 16000 --vocab-max 32000 --lr 1e-4 --schedule linear --warmup 0.05 "
        "--absent-tokens 8192 --hold-out-eval --pretokenizers gpt2,llama3 --out .cache/zett-smollm2-ho-pool --json "
        "bench_results/zett_train_ho_pool.json && python benchmarks/tokenizer_transfer.py --threads 1 --targets "
        "gpt2,qwen3,mistral,kl3m,kl3m-char --methods zett,tokenadapt,mean --zett-hypernetwork "
        f".cache/zett-smollm2-ho-pool --no-tokensurgeon --json {HEADLINE} && python benchmarks/tokenizer_transfer.py "
        "--threads 1 --targets gpt2,qwen3,mistral --methods zett,tokenadapt --eval-corpora man-en "
        f"--zett-hypernetwork .cache/zett-smollm2-ho-pool --no-tokensurgeon --json {HEADLINE_EN}  # earlier "
        "hypernetworks (ablations): "
        "python benchmarks/zett_train.py --threads 1 --seconds 2700 --out .cache/zett-smollm2 "
        "--json bench_results/zett_train.json && python benchmarks/zett_train.py --threads 1 --init "
        ".cache/zett-smollm2 --seed 1 --steps 150 --seconds 6000 --fit-texts 400 --vocab-min 16000 --vocab-max 32000 "
        "--lr 1e-4 --schedule linear --warmup 0.05 --absent-tokens 8192 --out .cache/zett-smollm2-absent-pool "
        "--json bench_results/zett_train_absent_pool.json && python benchmarks/tokenizer_transfer.py --threads 1 "
        "--targets gpt2,qwen3,mistral,kl3m,kl3m-char --methods zett,tokenadapt,mean --zett-hypernetwork "
        ".cache/zett-smollm2-absent-pool --no-tokensurgeon --json "
        "bench_results/tokenizer_transfer_zett_absent_pool.json  # synthetic other-script distractors: the same two "
        "runs with --absent-foreign 0.5 --seconds 4000, out "
        ".cache/zett-smollm2-absent, into bench_results/zett_train_absent.json and "
        "tokenizer_transfer_zett_absent.json; without distractors: the same zett_train.py --init "
        "run without --absent-* and with --seconds 1800 --steps 2000 into bench_results/zett_train_bigvocab.json, "
        "then the transfer run (--targets gpt2,qwen3,mistral) into bench_results/tokenizer_transfer_zett_bigvocab.json"
        "; the first hypernetwork alone: the transfer run on .cache/zett-smollm2 into "
        "bench_results/tokenizer_transfer_zett.json; continued training: python "
        "benchmarks/tokenizer_transfer.py --quick --threads 1 --targets gpt2 --methods zett,tokenadapt,mean "
        "--no-tokensurgeon --zett-hypernetwork .cache/zett-smollm2-absent-pool --ct-steps 100 --ct-batch 2 "
        "--ct-chars 300 --json bench_results/tokenizer_transfer_ct.json (300 steps: --methods zett,tokenadapt "
        "--ct-steps 300 --json bench_results/tokenizer_transfer_ct300.json; 500 steps: --methods zett --ct-methods "
        "zett --ct-steps 500 --json bench_results/tokenizer_transfer_ct500.json); Llama 3 / Qwen pre-tokenization: "
        "python benchmarks/zett_train.py --threads 1 --init .cache/zett-smollm2-absent-pool --seed 2 --pretokenizers "
        "gpt2,llama3 --hold-out-eval --steps 60 --seconds 10000 --fit-texts 400 --vocab-min 16000 --vocab-max 32000 "
        "--lr 1e-4 --schedule linear --warmup 0.05 --absent-tokens 8192 --out .cache/zett-smollm2-llama3 --json "
        "bench_results/zett_train_llama3.json (control: --pretokenizers gpt2, out .cache/zett-smollm2-ctl, "
        "zett_train_ctl.json), then the transfer run with --targets qwen3,gpt2,mistral --methods zett,tokenadapt on "
        "each, with and without --eval-corpora man-en, into tokenizer_transfer_zett_{llama3,ctl}[_man_en].json "
        "(KL3M targets: --targets kl3m,kl3m-char into tokenizer_transfer_zett_llama3_kl3m.json); "
        "held-out domain: the earlier "
        "transfer run with --eval-corpora man-en --targets gpt2,qwen3,mistral --json "
        "bench_results/tokenizer_transfer_zett_man_en.json; peers: python benchmarks/tokenizer_transfer.py --quick "
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
