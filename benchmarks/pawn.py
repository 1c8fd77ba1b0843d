"""PAWN vs its supervised baseline (fine-tuned MiniLM) and the zero-shot statistics on LLM-vs-human text,
in-distribution and cross-generator.

Data (``benchmarks/data/detection_data.py llm-text``): human continuations of offline-corpus prefixes vs SmolLM2
samples from the same prefixes (``llm_text_<T>.jsonl``) and, for the cross-generator split, vs Qwen2.5-Coder-0.5B
samples (``llm_text_<T>_qwen.jsonl``). Pairs (human and machine of one prefix) are never split: the last ``--train``
prefixes of the SmolLM2 file train PAWN and the MiniLM classifier (the same texts, labels and seed), the remaining
ones are the in-distribution test set; the Qwen file's prefixes not used in training are the cross-generator test
set (train on SmolLM2 texts, test on Qwen's).

Arms, all reading the continuation text alone: PAWN (head on SmolLM2-135M's cached features, ``--epochs`` epochs or
``--train-seconds`` CPU seconds); ``pawn-mean-pooling`` (the same head, training and selection with every token
weighted equally: the aggregation PAWN replaces); ``minilm-finetuned`` (all-MiniLM-L6-v2 with a 2-label
sequence-classification head, every weight fine-tuned on the same training texts, ``--minilm-epochs`` or
``--minilm-seconds`` CPU seconds; :mod:`hf_tokens.pipelines.pawn.baseline`); and from one SmolLM2 forward:
log-likelihood, log-rank, entropy (lower = machine), Fast-DetectGPT (analytical), the zero-shot test's
``-|log-PPL - entropy|``. Reported per split: AUROC and TPR at 1% FPR of every arm, and PAWN's AUROC minus the best
zero-shot arm's, minus MiniLM's and minus the mean-pooling ablation's with a 95% bootstrap interval over prefixes
(``auroc-vs-best-zero-shot``, ``auroc-vs-minilm``, ``auroc-vs-mean-pooling``).

    python benchmarks/data/detection_data.py llm-text --n 80 --tokens 64
    python benchmarks/data/detection_data.py llm-text --n 380 --tokens 64 --seed 2 --tag _train2
    python benchmarks/data/detection_data.py llm-text --n 156 --tokens 64 --generator qwen --seed 1 --batch 13
    python benchmarks/pawn.py --threads 1 --train-extra .cache/detection/llm_text_64_train2.jsonl \
        --val-prefixes 52 --minilm-epochs 10 --minilm-seconds 900 --json bench_results/pawn.json
    python benchmarks/pawn.py --threads 1 --json bench_results/pawn_train40.json   # the first run's 80 texts
    # all with PYTHONPATH=.

``--train-extra`` adds separately sampled SmolLM2 files (seed 2; nucleus samples of seeds 3 and 4) to the training
pairs, minus the pairs that share a 50-character substring with any test text or with a training text before them
(corpus slices of two seeds can overlap: 14 of 380 did with the test texts). ``--val-prefixes
K`` holds out K training prefixes as a validation split: PAWN's head and the MiniLM classifier each keep the weights
of their epoch with the lowest validation loss (without it they keep the last epoch, as before). The Qwen file uses
seed 1, so its prefixes are other corpus slices than the SmolLM2 file's (none is a training prefix). On a crowded
machine, ``--prewarm minilm``, ``--prewarm in-distribution`` and ``--prewarm cross-generator`` in three parallel
processes fill the caches (MiniLM classifier, features, zero-shot scores) that the full run reads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path
from typing import Any

import torch

from hf_tokens.analysis import detection_scores as ds
from hf_tokens.analysis.token_stats import token_stats
from hf_tokens.benchmarking import Benchmark, add_common_args, json_digest, setup_torch

ZERO_SHOT = ("log_likelihood", "log_rank", "entropy(low=machine)", "fast_detectgpt", "zero-shot-detection")


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SystemExit(f"{path} is missing: build it with benchmarks/data/detection_data.py (see its docstring)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _zero_shot(model: Any, tok: Any, texts: list[str], batch: int, cache: Path) -> dict[str, list[float]]:
    """The zero-shot arms' scores of ``texts``, kept in ``cache`` (a JSON file per text list and batch size)."""
    from hf_tokens.pipelines.zero_shot_detection.statistic import ZeroShotDetectionConfig, zero_shot_test

    path = cache / (json_digest([texts, batch]) + ".json")
    if path.is_file():
        return json.loads(path.read_text())
    out: dict[str, list[float]] = {}
    for s in range(0, len(texts), batch):
        st = token_stats(model, tok, texts[s : s + batch], rank=True, logp_std=True)
        t = zero_shot_test(st, ZeroShotDetectionConfig(), model.config.vocab_size)
        vals = {
            "log_likelihood": ds.log_likelihood(st),
            "log_rank": ds.log_rank(st),
            "entropy(low=machine)": -st.mean("entropy"),
            "fast_detectgpt": ds.fast_detectgpt(st),
            "zero-shot-detection": -t["statistic"].abs(),
        }
        for k, v in vals.items():
            out.setdefault(k, []).extend(v.tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def _auc(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """AUROC of each row of ``scores [R, N]`` (ties count one half; the same value as ``ds.auroc``)."""
    pos, neg = scores[:, labels == 1], scores[:, labels == 0]
    diff = pos[:, :, None] - neg[:, None, :]
    return ((diff > 0).float() + 0.5 * (diff == 0).float()).mean((1, 2))


def auroc_gap(
    a: list[float], b: list[float], labels: list[int], groups: list[str], reps: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """AUROC(a) - AUROC(b) and its 95% percentile interval, resampling the groups (prefixes: a human text and the
    machine text of the same prefix stay together) with replacement."""
    names = sorted(set(groups))
    members = [[i for i, g in enumerate(groups) if g == n] for n in names]
    y = torch.tensor(labels)
    both = torch.tensor([a, b], dtype=torch.float64)
    point = _auc(both, y)
    gen = torch.Generator().manual_seed(seed)
    gaps = []
    for _ in range(reps):
        pick = torch.randint(len(names), (len(names),), generator=gen).tolist()
        idx = torch.tensor([i for p in pick for i in members[p]])
        if len(set(y[idx].tolist())) < 2:
            continue
        r = _auc(both[:, idx], y[idx])
        gaps.append(float(r[0] - r[1]))
    gaps.sort()
    return float(point[0] - point[1]), gaps[int(0.025 * len(gaps))], gaps[int(0.975 * len(gaps)) - 1]


def _disjoint_pairs(rows: list[dict[str, Any]], tests: list[str], width: int = 50) -> list[dict[str, Any]]:
    """The rows of ``rows`` whose prefix (pair) shares no ``width``-character substring with any text of ``tests``
    (a separately sampled file can hold corpus slices that overlap the test texts)."""
    seen = {t[i : i + width] for t in tests for i in range(max(1, len(t) - width + 1))}

    def overlaps(text: str) -> bool:
        return any(text[i : i + width] in seen for i in range(len(text) - width + 1))

    bad = {r["prefix"] for r in rows if overlaps(r["text"])}
    return [r for r in rows if r["prefix"] not in bad]


def _minilm(
    texts: list[str],
    labels: list[int],
    args: argparse.Namespace,
    val_texts: list[str] | None = None,
    val_labels: list[int] | None = None,
) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The MiniLM baseline fine-tuned on ``texts``; kept under ``--cache``/../pawn_minilm-<hash of texts, labels and
    config> so a later run on the same training split (e.g. with more test data) re-uses it instead of retraining."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_tokens.pipelines.pawn.baseline import ClassifierBaselineConfig, minilm_classifier, train_text_classifier

    cfg = ClassifierBaselineConfig(epochs=args.minilm_epochs, lr=args.minilm_lr, batch_size=args.minilm_batch,
                                   seed=0, time_budget_s=args.minilm_seconds)  # fmt: skip
    key = json_digest([texts, labels, dataclasses.asdict(cfg)] + ([val_texts, val_labels] if val_texts else []))
    folder = args.cache.parent / f"pawn_minilm-{key}"
    if (folder / "train_log.json").is_file():
        clf = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        return clf, AutoTokenizer.from_pretrained(folder), cfg, {**json.loads((folder / "train_log.json").read_text()),
                                                                 "cached": True}  # fmt: skip
    clf, tok = minilm_classifier(seed=0)
    log = train_text_classifier(clf, tok, texts, labels, cfg, val_texts=val_texts, val_labels=val_labels)
    clf.save_pretrained(folder)
    tok.save_pretrained(folder)
    (folder / "train_log.json").write_text(json.dumps(log))
    return clf, tok, cfg, log


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--data", type=Path, default=Path(".cache/detection"))
    parser.add_argument("--tokens", type=int, default=64, help="continuation length of the data files")
    parser.add_argument("--train", type=int, default=40, help="last prefixes (pairs) of the SmolLM2 file to train on")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--train-seconds", type=float, default=300.0, help="CPU budget of PAWN's training")
    parser.add_argument("--seeds", type=int, default=1,
                        help="train both PAWN arms with seeds 0..N-1 (seed 0 gives the AUROC rows and intervals; "
                        "N > 1 adds each arm's mean AUROC over the seeds)")  # fmt: skip
    parser.add_argument("--minilm-epochs", type=int, default=15, help="fine-tuning epochs of the MiniLM baseline")
    parser.add_argument("--minilm-batch", type=int, default=8, help="texts per step of the MiniLM baseline")
    parser.add_argument("--minilm-lr", type=float, default=5e-5)
    parser.add_argument("--minilm-seconds", type=float, default=200.0, help="CPU budget of MiniLM's fine-tuning")
    parser.add_argument("--cache", type=Path, default=Path(".cache/pawn_features"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--prewarm", choices=["minilm", "in-distribution", "cross-generator"], default=None,
                        help="only fill one cache (the MiniLM classifier, or one split's features and zero-shot "
                        "scores) and exit: several in parallel processes, then the full run reads them")  # fmt: skip
    parser.add_argument("--save", type=Path, default=None, help="save the PAWN head and the MiniLM classifier here")
    parser.add_argument(
        "--val-prefixes", type=int, default=0,
        help="hold out this many training prefixes (pairs) as a validation split for both trained arms (0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--train-extra", type=Path, nargs="+", default=None,
        help="more SmolLM2 llm-text files (--tag; pure or nucleus samples) whose pairs join the training set; pairs "
        "that share text with a test split or with the training texts before them are dropped",
    )  # fmt: skip
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.quick:  # a smoke run: few test prefixes and epochs
        args.epochs, args.minilm_epochs = min(args.epochs, 10), min(args.minilm_epochs, 2)
    setup_torch(args)
    from hf_tokens.assets import load_model
    from hf_tokens.pipelines.pawn import PawnConfig, PawnHeadConfig, cache_features, load_features, predict, train_pawn
    from hf_tokens.pipelines.pawn.baseline import classifier_scores

    model, tok = load_model("smollm2-135m", dtype=torch.float32)
    bench = Benchmark("pawn", "SmolLM2-135M-Instruct (+ all-MiniLM-L6-v2)", device=args.device, quick=args.quick)
    smol = _rows(args.data / f"llm_text_{args.tokens}.jsonl")
    prefixes = list(dict.fromkeys(r["prefix"] for r in smol))
    train_p = set(prefixes[-args.train :])
    train = [r for r in smol if r["prefix"] in train_p]
    splits = {"in-distribution": [r for r in smol if r["prefix"] not in train_p]}
    qwen_path = args.data / f"llm_text_{args.tokens}_qwen.jsonl"
    if qwen_path.is_file():
        splits["cross-generator(qwen2.5-coder-0.5b)"] = [r for r in _rows(qwen_path) if r["prefix"] not in train_p]
    else:
        bench.note(f"{qwen_path} missing: no cross-generator split")
    if args.quick:
        splits = {k: [r for r in v if r["prefix"] in set(list(dict.fromkeys(x["prefix"] for x in v))[:8])]
                  for k, v in splits.items()}  # fmt: skip
    if args.train_extra is not None:
        tests = [r["text"] for rows in splits.values() for r in rows]
        added = []
        for path in args.train_extra:  # no text shared with a test split or with the training texts so far
            extra = _disjoint_pairs(_rows(path), tests + [r["text"] for r in train])
            added.append(f"{len(extra) // 2} prefixes of {path.name}")
            train += extra
        bench.note(
            f"training set: the last {args.train} prefixes of the SmolLM2 file plus {' and '.join(added)} (pairs "
            "sharing a 50-char substring with a test text or an earlier training text dropped)"
        )
    val: list[dict[str, Any]] = []
    if args.val_prefixes:
        pool = list(dict.fromkeys(r["prefix"] for r in train))
        if not 0 < args.val_prefixes < len(pool):
            raise SystemExit(f"--val-prefixes must be in [1, {len(pool) - 1}], got {args.val_prefixes}")
        held = set(random.Random(0).sample(pool, args.val_prefixes))
        val, train = [r for r in train if r["prefix"] in held], [r for r in train if r["prefix"] not in held]
        bench.note(
            f"validation: {args.val_prefixes} of the training prefixes ({len(val)} texts, seeded draw) held out; PAWN "
            "and MiniLM each keep the weights of their epoch with the lowest validation loss"
        )
    train_texts, train_labels = [r["continuation"] for r in train], [r["label"] for r in train]
    val_texts, val_labels = [r["continuation"] for r in val] or None, [r["label"] for r in val] or None
    if args.prewarm == "minilm":
        _minilm(train_texts, train_labels, args, val_texts, val_labels)
        return
    if args.prewarm is not None:
        for split, rows in splits.items():
            if split.startswith(args.prewarm):
                texts = [r["continuation"] for r in rows]
                cache_features(model, tok, texts, args.cache, batch_size=args.batch)
                _zero_shot(model, tok, texts, args.batch, args.cache.parent / "pawn_zero_shot")
        return
    t0 = time.time()
    files = cache_features(model, tok, train_texts, args.cache, batch_size=args.batch)
    bench.note(f"feature cache of {len(train)} training texts: {time.time() - t0:.0f} s")
    cfg = PawnConfig(epochs=args.epochs, time_budget_s=args.train_seconds, seed=0)
    val_files = cache_features(model, tok, val_texts, args.cache, batch_size=args.batch) if val_texts else None
    # read once: every arm and seed trains on the same loaded features
    train_items = [load_features(f) for f in files]
    val_items = [load_features(f) for f in val_files] if val_files else None
    heads: dict[str, list[Any]] = {}  # arm -> one head per training seed (seed 0 is the arm's reported head)
    first = train_items[0]
    for name, mean_pooling in (("pawn", False), ("pawn-mean-pooling", True)):
        hc = PawnHeadConfig(hidden_size=int(first.hidden.shape[1]), num_features=int(first.features.shape[1]),
                            mean_pooling=mean_pooling)  # fmt: skip
        logs = []
        for seed in range(args.seeds):
            head, log = train_pawn(train_items, train_labels, dataclasses.replace(cfg, seed=seed), hc,
                                   val_data=val_items, val_labels=val_labels)  # fmt: skip
            heads.setdefault(name, []).append(head)
            logs.append(log)
        log = logs[0]
        bench.note(
            f"{name} trained on {len(train)} SmolLM2/human texts ({len(train) // 2} prefixes), seed 0: "
            f"{len(log['loss'])} epochs, {log['cpu_seconds']:.0f} CPU s of a {args.train_seconds:.0f} s budget, loss "
            f"{log['loss'][0]:.3f} -> {log['loss'][-1]:.3f}; {sum(p.numel() for p in head.parameters())} parameters"
            + (f"; kept epoch {log['best_epoch'] + 1} (validation loss {min(log['val_loss']):.3f})" if val else "")
            + (f"; seeds 0-{args.seeds - 1} kept epochs {[g['best_epoch'] + 1 for g in logs]}" if val else "")
        )
    clf, ctok, ccfg, clog = _minilm(train_texts, train_labels, args, val_texts, val_labels)
    bench.note(
        ("(loaded from the run that trained it on these texts) " if clog.get("cached") else "")
        + f"MiniLM baseline (all-MiniLM-L6-v2 + 2-label head, every weight trained) fine-tuned on the same "
        f"{len(train)} texts, seed 0: {len(clog['loss'])} epochs ({clog['steps']} steps of {ccfg.batch_size}, lr "
        f"{ccfg.lr:g}, linear warm-up/decay), {clog['cpu_seconds']:.0f} CPU s of a {args.minilm_seconds:.0f} s "
        f"budget, loss {clog['loss'][0]:.3f} -> {clog['loss'][-1]:.3f}; "
        f"{sum(p.numel() for p in clf.parameters())} trainable parameters"
        + (f"; kept epoch {clog['best_epoch'] + 1} (validation loss {min(clog['val_loss']):.3f})" if val else "")
    )
    for split, rows in splits.items():
        texts, labels = [r["continuation"] for r in rows], [r["label"] for r in rows]
        extra = {"split": split, "texts": len(rows), "tokens": args.tokens, "train_texts": len(train)}
        paths = cache_features(model, tok, texts, args.cache, batch_size=args.batch)
        items = [load_features(p) for p in paths]
        per_seed = {name: [predict(h, items).tolist() for h in hs] for name, hs in heads.items()}
        scores = {name: values[0] for name, values in per_seed.items()}
        scores["minilm-finetuned"] = classifier_scores(clf, ctok, texts, max_length=ccfg.max_length).tolist()
        scores.update(_zero_shot(model, tok, texts, args.batch, args.cache.parent / "pawn_zero_shot"))
        for name, values in scores.items():
            bench.add(name, "auroc", ds.auroc(values, labels), **extra)
            bench.add(name, "tpr@1%fpr", ds.tpr_at_fpr(values, labels, 0.01), **extra)
        for name, runs in per_seed.items():
            if len(runs) > 1:
                aucs = [ds.auroc(v, labels) for v in runs]
                bench.add(name, "auroc-mean-over-seeds", sum(aucs) / len(aucs), per_seed=aucs, **extra)
        groups = [r["prefix"] for r in rows]
        best = max(ZERO_SHOT, key=lambda n: ds.auroc(scores[n], labels))
        for metric, other in (("auroc-vs-best-zero-shot", best), ("auroc-vs-minilm", "minilm-finetuned"),
                              ("auroc-vs-mean-pooling", "pawn-mean-pooling")):  # fmt: skip
            gap, lo, hi = auroc_gap(scores["pawn"], scores[other], labels, groups)
            bench.add("pawn", metric, gap, baseline=other, baseline_value=ds.auroc(scores[other], labels),
                      ci95=[lo, hi], **extra)  # fmt: skip
        print(f"{split}: {len(rows)} texts scored", flush=True)
    bench.finish(args.json)
    if args.save is not None:  # the trained artefacts, with cards that record the training config
        from hf_tokens.hub import save_for_hub

        save_for_hub(heads["pawn"][0], args.save / "pawn-head", method_id="pawn", config=cfg, overwrite=True)
        save_for_hub(clf, args.save / "minilm-baseline", method_id="pawn", tokenizer=ctok, config=ccfg, overwrite=True)


if __name__ == "__main__":
    main()
