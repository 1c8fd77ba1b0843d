"""Detection benchmark: membership inference (DC-PDD vs its baselines) and LLM-text detection (the zero-shot test
vs log-likelihood, log-rank, Fast-DetectGPT, Binoculars), on the data sets of ``benchmarks/data/detection_data.py``.

Membership (label 1 = member), per setting (``controlled``: SmolLM2-135M + the LoRA adapter trained on the members;
``natural``: SmolLM2-135M on Debian changelog stanzas dated before 2023 vs from 2025 on): AUROC and TPR at 5% FPR of
``dc-pdd``, ``perplexity`` (-log PPL), ``zlib``, ``lowercase``, ``min_k`` and ``min_k_plus_plus`` (k = 20%); the
reference token frequencies are counted over corpora that hold none of the benchmark texts (``--reference``).

LLM text (label 1 = sampled by SmolLM2 at temperature 1 from the same human prefix), at continuation lengths
``--lengths`` (the first L tokens of each continuation; the prefix is context, not scored): AUROC and TPR at 1% FPR of
every detector, and for the zero-shot test (both bounds) its empirical type-I error (the share of SmolLM2's own texts
it rejects) against the stated ``alpha``, and its power (the share of human texts it rejects).

Attribution (the paper's setting (i), LLM A vs LLM B): SmolLM2's samples (A) and samples of SmolLM2 + the membership
LoRA adapter (B) from the same prefixes, each tested under both models: accuracy of "the candidate with the largest
p-value", AUROC of ``|S_B| - |S_A|``, the likelihood ratio as baseline, the type-I error under A.

    PYTHONPATH=. python benchmarks/detection.py --json bench_results/detection.json --threads 1
    (the committed files: --skip llm-text attribution -> detection_membership.json;
     --skip membership attribution --observer lora -> detection_llm_text.json;
     --skip membership llm-text --limit 20 -> detection_attribution.json;
     --skip membership attribution --observer self --source-tokens 256 --lengths 64 128 256 on the data of
     ``detection_data.py llm-text --n 40 --tokens 256 --batch 20`` -> detection_llm_text_lengths.json;
     --skip membership attribution --scorer qwen [--texts qwen | qwen_top_p0.95] -> detection_llm_text_qwen*.json)

With ``--scorer qwen`` (the opt-in Qwen pair) every LLM-text detector runs under Qwen2.5-Coder-1.5B-Instruct, an
external scorer that generated none of the texts (rows re-encoded in its tokens), and Binoculars uses the issue's
observer/performer pair (observer 0.5B, performer 1.5B, one vocabulary; ``--scorer qwen-0.5b`` swaps the roles, so
every detector runs under the 0.5B, the generator of the Qwen texts); ``--texts qwen`` takes the machine texts
of Qwen2.5-Coder-0.5B instead of SmolLM2's (the observer's own family), ``--texts qwen_top_p0.95`` its nucleus samples.

Every arm scores the same texts with the same model in one process; the CPU budget is the data sizes (``--n`` of the
data script) and ``--threads``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import torch

from hf_tokens.analysis import detection_scores as ds
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

DATA = Path(".cache/detection")
MEMBERSHIP = ("dc-pdd", "perplexity", "zlib", "lowercase", "min_k", "min_k_plus_plus")
_KEYS = {"dc-pdd": "score", "perplexity": "neg_log_ppl"}
QWEN_SCORERS = {  # --scorer: (performer, Binoculars observer)
    "qwen": ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"),
    "qwen-0.5b": ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"),
}


def _read(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """The rows of a data file; with ``limit``, the first ``limit`` of each label (the CPU budget)."""
    import json

    if not path.is_file():
        raise SystemExit(f"{path} is missing: build it with benchmarks/data/detection_data.py (see its docstring)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if limit is None:
        return rows
    return [r for y in (1, 0) for r in [r for r in rows if r["label"] == y][:limit]]


def _add_rates(bench: Benchmark, name: str, scores: list[float], labels: list[int], fpr: float, **extra: Any) -> None:
    bench.add(name, "auroc", ds.auroc(scores, labels), **extra)
    bench.add(name, f"tpr@{fpr:.0%}fpr", ds.tpr_at_fpr(scores, labels, fpr), **extra)


def membership(bench: Benchmark, args: argparse.Namespace, base: Any, tok: Any, freq: Any) -> None:
    from hf_tokens.pipelines.dc_pdd.pipeline import DCPDDPipeline

    for setting in args.settings:
        rows = _read(args.data / f"membership_{setting}.jsonl", args.limit)
        model = base
        if setting == "controlled":
            from peft import PeftModel

            model = PeftModel.from_pretrained(base, str(args.data / "membership_lora")).eval()
        pipe = DCPDDPipeline(model=model, tokenizer=tok, reference_frequency=freq)
        out = pipe([r["text"] for r in rows], baselines=True, batch_size=args.batch)
        print(f"membership/{setting}: scored {len(rows)} texts", flush=True)
        labels = [r["label"] for r in rows]
        results = {}
        for name in MEMBERSHIP:
            scores = [o[_KEYS.get(name, name)] for o in out]
            results[name] = ds.auroc(scores, labels)
            _add_rates(bench, name, scores, labels, 0.05, setting=setting, texts=len(rows))
        best = max((n for n in MEMBERSHIP if n != "dc-pdd"), key=lambda n: results[n])
        bench.add("dc-pdd", "auroc-vs-best-baseline", results["dc-pdd"], baseline=best,
                  baseline_value=results[best], setting=setting, texts=len(rows))  # fmt: skip
        if setting == "controlled":
            base = model.unload()  # the plain model again for the next setting


def _continuation_stats(model: Any, rows: list[dict[str, Any]], args: argparse.Namespace, **options: Any) -> list:
    """TokenStats (one per batch) of prefix + the first ``max(--lengths)`` continuation tokens, prefix unscored."""
    from hf_tokens.analysis import token_stats

    longest = max(args.lengths)
    ids = [r["prefix_ids"] + r["continuation_ids"][:longest] for r in rows]
    starts = [len(r["prefix_ids"]) for r in rows]
    width = max(map(len, ids))
    batch = torch.tensor([x + [0] * (width - len(x)) for x in ids])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
    out = []
    for i in range(0, len(rows), args.batch):
        out.append(token_stats(
            model, input_ids=batch[i : i + args.batch], attention_mask=mask[i : i + args.batch],
            continuation_start=starts[i : i + args.batch], logp_std=True, **options,
        ))  # fmt: skip
        print(f"scored {min(i + args.batch, len(rows))}/{len(rows)} texts", flush=True)
    return out


def _first(stats: Any, length: int) -> Any:
    """The same statistics restricted to the first ``length`` scored tokens of each row (causal: no recompute)."""
    return dataclasses.replace(stats, mask=stats.mask & (stats.mask.cumsum(1) <= length))


def attribution(bench: Benchmark, args: argparse.Namespace, model_a: Any, model_b: Any) -> None:
    """The paper's setting (i): texts of LLM A (SmolLM2) and LLM B (SmolLM2 + LoRA), each tested under both."""
    from hf_tokens.pipelines.zero_shot_detection.pipeline import decide
    from hf_tokens.pipelines.zero_shot_detection.statistic import ZeroShotDetectionConfig, zero_shot_test

    a_rows = [r for r in _read(args.data / f"llm_text_{args.source_tokens}.jsonl", args.limit) if r["label"] == 1]
    b_rows = [r for r in _read(args.data / f"llm_text_{args.source_tokens}_lora.jsonl", args.limit) if r["label"]]
    rows, truth = a_rows + b_rows, ["a"] * len(a_rows) + ["b"] * len(b_rows)
    full = {name: _continuation_stats(m, rows, args) for name, m in (("a", model_a), ("b", model_b))}
    cfg = ZeroShotDetectionConfig(alpha=args.alpha, bound="bernstein")
    vocab = model_a.config.vocab_size
    for length in args.lengths:
        res: dict[str, dict[str, list[float]]] = {}
        for name, parts in full.items():
            acc = res.setdefault(name, {"stat": [], "p": [], "ll": []})
            for stats in parts:
                t = zero_shot_test(_first(stats, length), cfg, vocab)
                acc["stat"] += t["statistic"].tolist()
                acc["p"] += t["p_value"].tolist()
                acc["ll"] += ds.log_likelihood(_first(stats, length)).tolist()
        sources = decide({k: v["p"] for k, v in res.items()}, cfg.alpha, {k: v["stat"] for k, v in res.items()})
        labels = [int(t == "a") for t in truth]
        extra = {"tokens": length, "texts": len(rows), "setting": "A=smollm2 vs B=smollm2+lora"}
        correct = sum(s == t for s, t in zip(sources, truth)) / len(rows)
        bench.add("zero-shot-detection(attribution)", "accuracy", correct, **extra)
        score = [abs(sb) - abs(sa) for sa, sb in zip(res["a"]["stat"], res["b"]["stat"])]
        bench.add("zero-shot-detection(attribution)", "auroc", ds.auroc(score, labels), **extra)
        llr = [la - lb for la, lb in zip(res["a"]["ll"], res["b"]["ll"])]
        bench.add("likelihood-ratio(attribution)", "auroc", ds.auroc(llr, labels), **extra)
        type1 = sum(p <= cfg.alpha for p, t in zip(res["a"]["p"], truth) if t == "a") / len(a_rows)
        bench.add("zero-shot-detection(attribution)", "type1_error", type1, baseline="stated alpha",
                  baseline_value=cfg.alpha, **extra)  # fmt: skip
        power = sum(p <= cfg.alpha for p, t in zip(res["a"]["p"], truth) if t == "b") / len(b_rows)
        bench.add("zero-shot-detection(attribution)", "rejects_B_text_under_A", power, **extra)


def _llm_text_file(args: argparse.Namespace) -> Path:
    return args.data / f"llm_text_{args.source_tokens}{f'_{args.texts}' if args.texts else ''}.jsonl"


def _retokenize(rows: list[dict[str, Any]], tok: Any) -> list[dict[str, Any]]:
    """The same prefix and continuation texts in another tokenizer's ids (an external scorer's view of the data)."""

    def ids(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    return [{**r, "prefix_ids": ids(r["prefix"]), "continuation_ids": ids(r["continuation"])} for r in rows]


def llm_text(
    bench: Benchmark, args: argparse.Namespace, model: Any, observer: Any, observer_name: str, scorer_tok: Any = None
) -> None:
    """Every detector on human vs machine continuations. With ``scorer_tok`` the scorer is an external model (not the
    generator): rows are re-encoded in its tokens, lengths count its tokens, and the zero-shot test's type-I error /
    power rows (defined for texts of the scoring model itself) are left out."""
    from hf_tokens.pipelines.zero_shot_detection.statistic import ZeroShotDetectionConfig, zero_shot_test

    rows = _read(_llm_text_file(args), args.limit)
    if scorer_tok is not None:
        rows = _retokenize(rows, scorer_tok)
        counts = sorted(len(r["continuation_ids"]) for r in rows)
        median = counts[len(counts) // 2]
        bench.note(f"continuations in the scorer's tokens: {counts[0]}-{counts[-1]} (median {median})")
    labels = [r["label"] for r in rows]
    vocab = model.config.vocab_size
    # one forward per text at the longest length: a causal LM's statistics of the first L continuation tokens do not
    # depend on later tokens, so shorter lengths re-use them with a shorter mask
    full = _continuation_stats(model, rows, args, rank=True, reference_model=None if observer is model else observer)
    machine = next(r for r in rows if r["label"] == 1)
    top_p = machine.get("top_p", 1.0)
    bench.note(
        f"LLM text ({_llm_text_file(args).name}): {machine['generator']} samples at temperature 1 "
        + ("without top-k/top-p" if top_p == 1.0 else f"with top-p {top_p:g}")
        + " from the human prefix; EOS is suppressed until the length is reached (min_new_tokens), "
        "a small departure from the test's pure-sampling null"
    )
    for length in args.lengths:
        parts = [_first(s, length) for s in full]
        scores: dict[str, list[float]] = {
            k: [] for k in ("log_likelihood", "log_rank", "fast_detectgpt", "binoculars")
        }
        tests: dict[str, dict[str, list[float]]] = {}
        for stats in parts:
            for name in scores:
                scores[name] += getattr(ds, name)(stats).tolist()
            for bound in ("hoeffding", "bernstein"):
                cfg = ZeroShotDetectionConfig(alpha=args.alpha, bound=bound)
                t = zero_shot_test(stats, cfg, vocab)
                acc = tests.setdefault(bound, {"stat": [], "p": []})
                acc["stat"] += t["statistic"].tolist()
                acc["p"] += t["p_value"].tolist()
        extra = {"tokens": length, "texts": len(rows)}
        _add_rates(bench, "zero-shot-detection", [-abs(s) for s in tests["bernstein"]["stat"]], labels, 0.01, **extra)
        _add_rates(bench, "zero-shot-detection(one-sided)", [-s for s in tests["bernstein"]["stat"]], labels, 0.01,
                   **extra)  # fmt: skip
        for name, values in scores.items():
            label = f"binoculars(observer={observer_name})" if name == "binoculars" else name
            _add_rates(bench, label, values, labels, 0.01, **extra)
        for bound, acc in tests.items() if scorer_tok is None else ():  # defined for the scorer's own texts
            own = [p <= args.alpha for p, y in zip(acc["p"], labels) if y == 1]
            human = [p <= args.alpha for p, y in zip(acc["p"], labels) if y == 0]
            bench.add(f"zero-shot-detection[{bound}]", "type1_error", sum(own) / len(own), baseline="stated alpha",
                      baseline_value=args.alpha, **extra)  # fmt: skip
            bench.add(f"zero-shot-detection[{bound}]", "power_vs_human", sum(human) / len(human), **extra)


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the data script's JSONL files")
    parser.add_argument("--settings", nargs="+", default=["controlled", "natural"], help="membership settings")
    parser.add_argument("--lengths", nargs="+", type=int, default=[64, 128], help="LLM-text lengths (tokens)")
    parser.add_argument("--source-tokens", type=int, default=128, help="continuation length of the LLM-text data")
    parser.add_argument("--alpha", type=float, default=0.05, help="stated type-I error of the zero-shot test")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None, help="texts per class of each data file (CPU budget)")
    parser.add_argument("--observer", choices=["self", "lora"], default="lora",
                        help="Binoculars observer: SmolLM2 itself or the LoRA-tuned SmolLM2")  # fmt: skip
    parser.add_argument("--reference", nargs="+", default=["fortunes", "python-stdlib"],
                        help="corpora of the DC-PDD reference frequencies (none of the benchmark texts)")  # fmt: skip
    parser.add_argument("--skip", nargs="*", default=[], choices=["membership", "llm-text", "attribution"])
    parser.add_argument("--texts", default="", help="LLM-text file suffix (detection_data.py's --generator and "
                        "--top-p): '' SmolLM2's samples, 'qwen' Qwen2.5-Coder-0.5B's, 'qwen_top_p0.95'")  # fmt: skip
    parser.add_argument("--scorer", choices=["smollm2", *QWEN_SCORERS], default="smollm2",
                        help="LLM text scored by SmolLM2, or by the Qwen2.5-Coder pair: 'qwen' all detectors under "
                        "the 1.5B, Binoculars' observer the 0.5B; 'qwen-0.5b' the roles swapped (needs --skip "
                        "membership attribution)")  # fmt: skip
    args = parser.parse_args()
    if args.scorer != "smollm2" and not {"membership", "attribution"} <= set(args.skip):
        parser.error(f"--scorer {args.scorer} scores LLM text only: add --skip membership attribution")
    if max(args.lengths) > args.source_tokens:
        parser.error(
            f"--lengths {max(args.lengths)} exceeds --source-tokens {args.source_tokens}: the data's continuations "
            "are not that long (build them with detection_data.py llm-text --tokens N)"
        )
    setup_torch(args)
    from hf_tokens.assets import MODELS, load_model
    from hf_tokens.pipelines.dc_pdd.frequency import TokenFrequency

    if args.scorer != "smollm2":
        performer_name, observer_name = QWEN_SCORERS[args.scorer]
        performer, qtok = load_model(performer_name, dtype=torch.float32)
        observer, _ = load_model(observer_name, dtype=torch.float32)
        performer_hf, observer_hf = (MODELS[n].hub_id.split("/")[1] for n in (performer_name, observer_name))
        bench = Benchmark("detection", performer_hf, device=args.device, quick=args.quick)
        bench.note(
            f"LLM text scored by {performer_hf} (every detector under it); Binoculars: performer {performer_hf}, "
            f"observer {observer_hf} (the paper's pair is Falcon-7B / Falcon-7B-Instruct)"
        )
        llm_text(bench, args, performer, observer, observer_name, scorer_tok=qtok)
        bench.finish(args.json)
        return
    model, tok = load_model("smollm2-135m", dtype=torch.float32)
    bench = Benchmark("detection", "SmolLM2-135M-Instruct", device=args.device, quick=args.quick)
    if "membership" not in args.skip:
        freq = TokenFrequency.from_corpora(tok, vocab_size=model.config.vocab_size, corpora=args.reference)
        bench.note(f"DC-PDD reference frequencies: {freq.total} tokens of {', '.join(args.reference)}")
        membership(bench, args, model, tok, freq)
    if "llm-text" not in args.skip:
        observer, name = model, "self"
        adapter = args.data / "membership_lora"
        if args.observer == "lora" and adapter.is_dir():
            from peft import PeftModel

            fresh, _ = load_model("smollm2-135m", dtype=torch.float32)
            observer, name = PeftModel.from_pretrained(fresh, str(adapter)).eval().merge_and_unload(), "smollm2-lora"
        bench.note(
            "Binoculars' observer: "
            + ("the LoRA-tuned SmolLM2 of the membership data (same vocabulary)" if name != "self" else "SmolLM2")
            + "; the Qwen2.5-Coder 0.5B/1.5B pair: --scorer qwen"
        )
        llm_text(bench, args, model, observer, name)
    if "attribution" not in args.skip:
        from peft import PeftModel

        fresh, _ = load_model("smollm2-135m", dtype=torch.float32)
        model_b = PeftModel.from_pretrained(fresh, str(args.data / "membership_lora")).eval().merge_and_unload()
        attribution(bench, args, model, model_b)
    bench.finish(args.json)


if __name__ == "__main__":
    main()
