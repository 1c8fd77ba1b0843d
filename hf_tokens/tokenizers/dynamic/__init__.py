"""Dynamic tokenization: batch-level BPE merges with predicted embeddings (Feher et al., arXiv:2411.18553).

:func:`.merges.batch_bpe` merges frequent subword sequences within words of one batch; :mod:`.predictor` predicts
the merged tokens' embeddings (:class:`MeanPiecesPredictor`, or ZeTT's hypernetwork through the same
``predict(decompositions)`` protocol); :mod:`.apply` feeds them to a decoder (prefilling, the paper's setting 1) or an
encoder; :mod:`.generate` decodes over the original + dynamic vocabulary through an approximate nearest-neighbour
index (setting 2); :mod:`.training` trains a hypernetwork on the prefilling objective itself (an extension). The
model is never changed, so the registry's ``convert`` contract returns it as it is (see
:func:`.apply.contract`).
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

ZETT = "bench_results/dynamic_tokenization_zett.json"  # prefill with ZeTT-predicted embeddings
MAN_DE = "bench_results/dynamic_tokenization_man_de.json"  # German text: the paper's over-segmented regime
MAN_FR = "bench_results/dynamic_tokenization_man_fr.json"
# ZeTT hypernetworks trained the same way (274 steps, seed 0, prefill text held out) on English only / + German, French
EN_DE, EN_FR = (
    "bench_results/dynamic_tokenization_man_de_zett_en.json",
    "bench_results/dynamic_tokenization_man_fr_zett_en.json",
)
MULTI_DE = "bench_results/dynamic_tokenization_man_de_zett_multi.json"
MULTI_FR = "bench_results/dynamic_tokenization_man_fr_zett_multi.json"
MULTI2_DE = "bench_results/dynamic_tokenization_man_de_zett_multi2.json"  # ... after more steps
MULTI2_FR = "bench_results/dynamic_tokenization_man_fr_zett_multi2.json"
# a hypernetwork trained on the prefilling objective itself (training.py; same corpora, seed, steps, held-out text)
DYN_DE, DYN_FR = (f"bench_results/dynamic_tokenization_man_{lang}_dyn.json" for lang in ("de", "fr"))
DYN = "bench_results/dynamic_tokenization_dyn.json"  # dpkg changelogs
DYN2_DE, DYN2_FR = (f"bench_results/dynamic_tokenization_man_{lang}_dyn2.json" for lang in ("de", "fr"))  # continued
DYN3_DE, DYN3_FR = (f"bench_results/dynamic_tokenization_man_{lang}_dyn3.json" for lang in ("de", "fr"))  # lr decayed

register(
    "dynamic-tokenization",
    status="experimental",
    extension="tokenizers",
    card_kind="tokenizer",
    entry="hf_tokens.tokenizers.dynamic.merges:batch_bpe",
    config="hf_tokens.tokenizers.dynamic.config:DynamicTokenizationConfig",
    contract="hf_tokens.tokenizers.dynamic.apply:contract",
    demo="hf_tokens.tokenizers.dynamic.demo:demo",
    package="hf_tokens.tokenizers.dynamic",
    headline=Headline(
        "SmolLM2 prefill, mean-piece embeddings: {a.value:.0%} shorter prompts at {an.change:+.1%} continuation NLL "
        "(100 merges/batch); word-boundary ceiling {c.value:.0%} at {cn.change:+.1%}; "
        "MiniLM classification {k.value:.0%} shorter, accuracy {kn.change:+.1%}; on dpkg changelogs (text the "
        "hypernetwork never trained on), 100 merges: {z.value:.0%} shorter at {zn.change:+.1%} NLL with "
        "ZeTT-predicted embeddings (the zett headline hypernetwork) vs {zm.change:+.1%} with mean-piece ones "
        "(per text ZeTT/mean x{zi.value:.3f} [{zi.ci_low:.3f}, {zi.ci_high:.3f}], {zi.n_texts} texts). Where the "
        "English-centric tokenizer "
        "over-segments (the paper's multilingual setting; German / French manual pages): {d.value:.0%} / "
        "{f.value:.0%} shorter at {dn.change:+.1%} / {fn.change:+.1%} NLL (mean pieces; ZeTT {dz.change:+.1%} / "
        "{fz.change:+.1%}), "
        "400 merges: {dc.value:.0%} / {fc.value:.0%} shorter at {dcn.change:+.1%} / {fcn.change:+.1%}. ZeTT's "
        "embeddings depend on the languages its hypernetwork read: two trained the same way ({hm.steps} steps, "
        "one seed and recipe, prefill text held out), one also on German / French manual pages, at 20% shorter: "
        "{mdz.change:+.1%} / {mfz.change:+.1%} vs English-only {edz.change:+.1%} / {efz.change:+.1%}; after "
        "{hm2.steps} more steps {m2d.change:+.1%} / {m2f.change:+.1%} (median of 3 batches; per text "
        "x{m2di.value:.3f} [{m2di.ci_low:.3f}, {m2di.ci_high:.3f}] / x{m2fi.value:.3f} [{m2fi.ci_low:.3f}, "
        "{m2fi.ci_high:.3f}], {m2di.n_texts} texts). A hypernetwork trained on the prefilling objective itself (an "
        "extension: merged prefixes, next-token loss on the original ids; {yt.steps} steps from mean "
        "initialisation, the same corpora, seed and held-out text as the multilingual ZeTT one): {yd.change:+.1%} / "
        "{yf.change:+.1%} at 20% shorter (per text x{ydi.value:.3f} [{ydi.ci_low:.3f}, {ydi.ci_high:.3f}] / "
        "x{yfi.value:.3f} [{yfi.ci_low:.3f}, {yfi.ci_high:.3f}]), 400 merges {yd4.change:+.1%} / {yf4.change:+.1%}; "
        "dpkg changelogs, 100 merges: {yz.change:+.1%} (mean pieces {yzm.change:+.1%}, the ZeTT headline one "
        "{zn.change:+.1%}). {yt2.steps} more steps (sampling seed 1) did not improve it: {y2d.change:+.1%} / "
        "{y2f.change:+.1%} at 20% (per text x{y2di.value:.3f} / x{y2fi.value:.3f}), 400 merges {y2d4.change:+.1%} / "
        "{y2f4.change:+.1%}; nor did {yt3.steps} from the first with lr 1e-4 decaying linearly (seed 2): "
        "{y3d.change:+.1%} / {y3f.change:+.1%} (per text x{y3di.value:.3f} / x{y3fi.value:.3f}). The <=2% goal at "
        "20% is met on German at the median (per-text intervals reach x{ydi.ci_high:.3f}) and missed on French",
        file="bench_results/dynamic_tokenization.json",
        rows={
            "a": {"method": "prefill:merges=100", "metric": "length_reduction"},
            "an": {"method": "prefill:merges=100", "metric": "continuation_nll"},
            "c": {"method": "prefill:target=20%", "metric": "length_reduction"},
            "cn": {"method": "prefill:target=20%", "metric": "continuation_nll"},
            "k": {"method": "classify:merges=400", "metric": "length_reduction"},
            "kn": {"method": "classify:merges=400", "metric": "accuracy"},
            "z": {"file": ZETT, "method": "prefill-zett:merges=100", "metric": "length_reduction"},
            "zn": {"file": ZETT, "method": "prefill-zett:merges=100", "metric": "continuation_nll"},
            "zm": {"file": ZETT, "method": "prefill:merges=100", "metric": "continuation_nll"},
            "zi": {"file": ZETT, "method": "zett-vs-mean:merges=100", "metric": "per_text_nll_ratio"},
            "d": {"file": MAN_DE, "method": "prefill:target=20%", "metric": "length_reduction"},
            "dn": {"file": MAN_DE, "method": "prefill:target=20%", "metric": "continuation_nll"},
            "dz": {"file": MAN_DE, "method": "prefill-zett:target=20%", "metric": "continuation_nll"},
            "dc": {"file": MAN_DE, "method": "prefill:merges=400", "metric": "length_reduction"},
            "dcn": {"file": MAN_DE, "method": "prefill:merges=400", "metric": "continuation_nll"},
            "f": {"file": MAN_FR, "method": "prefill:target=20%", "metric": "length_reduction"},
            "fn": {"file": MAN_FR, "method": "prefill:target=20%", "metric": "continuation_nll"},
            "fz": {"file": MAN_FR, "method": "prefill-zett:target=20%", "metric": "continuation_nll"},
            "fc": {"file": MAN_FR, "method": "prefill:merges=400", "metric": "length_reduction"},
            "fcn": {"file": MAN_FR, "method": "prefill:merges=400", "metric": "continuation_nll"},
            "hm": {"file": "bench_results/zett_train_multi.json", "method": "zett:train-lm-loss"},
            **{
                alias: {"file": file, "method": "prefill-zett:target=20%", "metric": "continuation_nll"}
                for alias, file in (
                    ("mdz", MULTI_DE),
                    ("mfz", MULTI_FR),
                    ("edz", EN_DE),
                    ("efz", EN_FR),
                    ("m2d", MULTI2_DE),
                    ("m2f", MULTI2_FR),
                )
            },
            "hm2": {"file": "bench_results/zett_train_multi2.json", "method": "zett:train-lm-loss"},
            "m2di": {"file": MULTI2_DE, "method": "prefill-zett:target=20%", "metric": "per_text_nll_ratio"},
            "m2fi": {"file": MULTI2_FR, "method": "prefill-zett:target=20%", "metric": "per_text_nll_ratio"},
            "yt": {"file": "bench_results/dynamic_tokenization_train.json", "method": "dynamic:train-lm-loss"},
            "yd4": {"file": DYN_DE, "method": "prefill-zett:merges=400", "metric": "continuation_nll"},
            "yf4": {"file": DYN_FR, "method": "prefill-zett:merges=400", "metric": "continuation_nll"},
            "y2d4": {"file": DYN2_DE, "method": "prefill-zett:merges=400", "metric": "continuation_nll"},
            "y2f4": {"file": DYN2_FR, "method": "prefill-zett:merges=400", "metric": "continuation_nll"},
            "yz": {"file": DYN, "method": "prefill-zett:merges=100", "metric": "continuation_nll"},
            "yzm": {"file": DYN, "method": "prefill:merges=100", "metric": "continuation_nll"},
            "yt2": {"file": "bench_results/dynamic_tokenization_train2.json", "method": "dynamic:train-lm-loss"},
            "yt3": {"file": "bench_results/dynamic_tokenization_train3.json", "method": "dynamic:train-lm-loss"},
            **{  # each prefilling-trained hypernetwork at 20% shorter: median NLL ratio and per-text interval
                alias + suffix: {"file": file, "method": "prefill-zett:target=20%", "metric": metric}
                for alias, file in (
                    ("yd", DYN_DE),
                    ("yf", DYN_FR),
                    ("y2d", DYN2_DE),
                    ("y2f", DYN2_FR),
                    ("y3d", DYN3_DE),
                    ("y3f", DYN3_FR),
                )
                for suffix, metric in (("", "continuation_nll"), ("i", "per_text_nll_ratio"))
            },
        },
    ),
    benchmark=(
        "python benchmarks/dynamic_tokenization.py --json bench_results/dynamic_tokenization.json  # ZeTT rows, "
        "after benchmarks/zett_train.py (see zett): python benchmarks/dynamic_tokenization.py --threads 1 "
        "--hypernetwork .cache/zett-smollm2-ho-pool --prefill-corpus dpkg-changelog --skip-classification "
        f"--json {ZETT}; German / French: the same with --prefill-corpus man-de / man-fr --json {MAN_DE} / {MAN_FR}; "
        "hypernetworks by language: python benchmarks/zett_train.py --threads 1 --steps 274 --seconds 8000 "
        "--hold-out-eval --pretokenizers gpt2,llama3 --out .cache/zett-smollm2-ho --json "
        "bench_results/zett_train_ho.json "
        "(+ German / French: --corpora python-stdlib,fortunes,jargon,licenses,man-de,man-fr --out "
        ".cache/zett-smollm2-multi --json bench_results/zett_train_multi.json), then the man-de / man-fr runs with "
        f"--hypernetwork .cache/zett-smollm2-ho / -multi --json {EN_DE} / {EN_FR} / {MULTI_DE} / {MULTI_FR}; "
        "more steps: python benchmarks/zett_train.py --threads 1 --init .cache/zett-smollm2-multi --seed 1 --steps "
        "120 --seconds 8000 --hold-out-eval --pretokenizers gpt2,llama3 --corpora "
        "python-stdlib,fortunes,jargon,licenses,man-de,man-fr --out .cache/zett-smollm2-multi2 --json "
        f"bench_results/zett_train_multi2.json, then the same man-de / man-fr runs into {MULTI2_DE} / {MULTI2_FR}; "
        "trained on prefilling: python benchmarks/dynamic_tokenization_train.py --threads 2 --steps 274 --seconds "
        "4000 --corpora python-stdlib,fortunes,jargon,licenses,man-de,man-fr --out .cache/dyn-prefill-smollm2 --json "
        "bench_results/dynamic_tokenization_train.json, then the man-de / man-fr / dpkg-changelog runs with "
        f"--hypernetwork .cache/dyn-prefill-smollm2 --json {DYN_DE} / {DYN_FR} / {DYN}; continued: the same training "
        "with --init .cache/dyn-prefill-smollm2 --seed 1 --out .cache/dyn-prefill-smollm2-2 --json "
        f"bench_results/dynamic_tokenization_train2.json, then man-de / man-fr into {DYN2_DE} / {DYN2_FR}; decayed: "
        "--init .cache/dyn-prefill-smollm2 --seed 2 --seconds 1900 --lr 1e-4 --schedule linear --out "
        f".cache/dyn-prefill-smollm2-3 --json bench_results/dynamic_tokenization_train3.json, into {DYN3_DE} / "
        f"{DYN3_FR}"
    ),
    usage=(
        "from hf_tokens.tokenizers.dynamic import batch_bpe, MeanPiecesPredictor, continuation_nll\n"
        "batch = batch_bpe(tokenizer, texts, merges=200)  # shorter sequences, merges within words\n"
        "nll = continuation_nll(model, batch, continuations, MeanPiecesPredictor(model))"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "batch_bpe": ".merges",
        "DynamicBatch": ".merges",
        "DynamicTokenizationConfig": ".config",
        "EmbeddingPredictor": ".predictor",
        "MeanPiecesPredictor": ".predictor",
        "continuation_nll": ".apply",
        "mean_pooled": ".apply",
        "predicted_rows": ".apply",
        "generate_dynamic": ".generate",
        "OutputIndex": ".generate",
        "DynamicPrefillTrainingConfig": ".training",
        "train_for_prefill": ".training",
        "prefill_loss": ".apply",
    },
)
