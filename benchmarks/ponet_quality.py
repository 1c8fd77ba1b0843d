"""PoNet vs an equal-size BERT trained the same way: held-out MLM loss, then long-text classification accuracy.

Both encoders (``--hidden`` 256, ``--layers`` 4, 4 heads, ``--intermediate`` 1024; byte-level vocabulary: the 256
byte values + [MASK] + [PAD] + [CLS]) are pre-trained from the same seed with masked-language modelling (15% of the
bytes masked, BERT's 80/10/10 replacement) on the same batches of offline English text (``fortunes``, ``jargon``,
``licenses`` from ``hf_tokens.assets.text``; the last 10% of each corpus held out), ``--mlm-steps`` x ``--batch`` x
``--mlm-len`` bytes. Then each is fine-tuned (same steps, batches and learning rate) to tell which of the three
corpora a ``--clf-len``-byte passage comes from (a long-text classification task built from the offline corpora:
no labelled set ships with the machine), and scored on held-out passages. BERT is transformers' ``BertForMaskedLM``
/ ``BertForSequenceClassification`` with sdpa attention, the baseline of every ratio (the paper's goal: PoNet at
~95% of BERT's accuracy).

    PYTHONPATH=. python benchmarks/ponet_quality.py --threads 1 --json bench_results/ponet_quality.json
    PYTHONPATH=. python benchmarks/ponet_quality.py --threads 1 --seed 1 --json bench_results/ponet_quality_seed1.json
    PYTHONPATH=. python benchmarks/ponet_quality.py --mlm-steps 100 --clf-steps 0 --json bench_results/ponet_mlm.json
    PYTHONPATH=. python benchmarks/ponet_quality.py --summarise bench_results/ponet_quality.json \
        bench_results/ponet_quality_seed1.json ... --json bench_results/ponet_quality_seeds.json

``--summarise`` trains nothing: it reads per-seed result files and writes, per metric, the mean over seeds of PoNet
and of BERT, the per-seed values, the mean PoNet-minus-BERT difference with its 95% Student-t interval over seeds,
and in how many seeds PoNet is ahead.

At the defaults (400 MLM steps, 400 classification steps of 1024 bytes) a run takes about 45 min (BERT) + 21 min
(PoNet) of one CPU core. With a quarter of that (100 + 100 steps of 512 bytes) BERT reached 0.58 and PoNet 0.28 on
the 3 classes: too few steps for a meaningful accuracy ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from hf_tokens.assets.text import load_text
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch, summarise_seeds
from hf_tokens.models.ponet.configuration import PoNetConfig
from hf_tokens.models.ponet.modeling import register_ponet

CORPORA = ("fortunes", "jargon", "licenses")
MASK, PAD, CLS = 256, 257, 258


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--mlm-steps", type=int, default=400)
    parser.add_argument("--clf-steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--mlm-len", type=int, default=256)
    parser.add_argument("--clf-len", type=int, default=1024)
    parser.add_argument("--eval-passages", type=int, default=40, help="held-out passages per class")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=1e-3, help="MLM pre-training learning rate")
    parser.add_argument("--clf-lr", type=float, default=2e-4, help="classification fine-tuning learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summarise", type=Path, nargs="+", default=None, help="per-seed result files to combine")
    args = parser.parse_args(argv)
    if args.mlm_steps < 1 or args.clf_steps < 0 or args.batch < 1:
        parser.error("--mlm-steps and --batch must be >= 1, --clf-steps >= 0")
    if args.quick:
        args.mlm_steps, args.clf_steps, args.eval_passages = min(args.mlm_steps, 20), min(args.clf_steps, 10), 6
    return args


def splits() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    train, held = [], []
    for name in CORPORA:
        data = torch.tensor(list(load_text(name).encode("utf-8")), dtype=torch.long)
        cut = int(len(data) * 0.9)
        train.append(data[:cut])
        held.append(data[cut:])
    return train, held


def passages(
    corpora: list[torch.Tensor], n: int, length: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` passages of ``length`` bytes (a [CLS] first), drawn from random corpora; returns ids and corpus labels."""
    labels = torch.randint(0, len(corpora), (n,), generator=gen)
    rows = []
    for label in labels.tolist():
        data = corpora[label]
        start = int(torch.randint(0, len(data) - length, (1,), generator=gen))
        rows.append(torch.cat([torch.tensor([CLS]), data[start : start + length - 1]]))
    return torch.stack(rows), labels


def mask_tokens(ids: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: 15% of positions predicted; of those 80% [MASK], 10% a random byte, 10% unchanged."""
    chosen = (torch.rand(ids.shape, generator=gen) < 0.15) & (ids != CLS)
    labels = ids.masked_fill(~chosen, -100)
    roll = torch.rand(ids.shape, generator=gen)
    inputs = ids.masked_fill(chosen & (roll < 0.8), MASK)
    random_bytes = torch.randint(0, 256, ids.shape, generator=gen)
    inputs = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_bytes, inputs)
    return inputs, labels


def configs(args: argparse.Namespace) -> dict[str, Any]:
    from transformers import BertConfig

    shared = {
        "vocab_size": 259,
        "hidden_size": args.hidden,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "intermediate_size": args.intermediate,
        "max_position_embeddings": max(args.mlm_len, args.clf_len),
        "pad_token_id": PAD,
        "num_labels": len(CORPORA),
    }
    return {"bert-sdpa": BertConfig(**shared), "ponet": PoNetConfig(**shared, segment_size=64)}


def fit(model: Any, batches: list[tuple[torch.Tensor, torch.Tensor]], lr: float) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, len(batches) // 10)))
    model.train()
    start = time.perf_counter()
    for inputs, labels in batches:
        loss = model(input_ids=inputs, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    return time.perf_counter() - start


def summarise(paths: list[Path], json_path: Path | None) -> dict[str, Any]:
    """Combine per-seed result files of this script (see the module docstring)."""
    try:
        bench = summarise_seeds(
            paths,
            "ponet_quality_seeds",
            "encoders of benchmarks/ponet_quality.py, byte-level",
            keep=lambda row: row["method"] == "ponet" and row["metric"] in ("accuracy", "mlm_loss"),
            suffix="_over_seeds",
        )
    except ValueError as exc:
        raise SystemExit(f"--summarise: {exc}") from exc
    return bench.finish(json_path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    args = parse(argv)
    if args.summarise:
        return summarise(args.summarise, args.json)
    setup_torch(args)
    register_ponet()
    train, held = splits()
    gen = torch.Generator().manual_seed(args.seed)
    mlm_batches = [mask_tokens(passages(train, args.batch, args.mlm_len, gen)[0], gen) for _ in range(args.mlm_steps)]
    mlm_eval = [mask_tokens(passages(held, args.batch, args.mlm_len, gen)[0], gen) for _ in range(4)]
    clf_batches = [passages(train, args.batch, args.clf_len, gen) for _ in range(args.clf_steps)]
    clf_eval = passages(held, args.eval_passages * len(CORPORA), args.clf_len, gen)
    bench = Benchmark("ponet_quality", f"encoders {args.layers}x{args.hidden}, byte-level", device=args.device)
    bench.note(
        f"same seed/batches for both: MLM {args.mlm_steps} steps x {args.batch} x {args.mlm_len} bytes; "
        f"classification ({'/'.join(CORPORA)}) {args.clf_steps} steps x {args.batch} x {args.clf_len} bytes; "
        f"{len(clf_eval[1])} held-out passages; lr {args.lr} (MLM), {args.clf_lr} (classification)"
    )
    results: dict[str, dict[str, float]] = {}
    for name, config in configs(args).items():
        torch.manual_seed(args.seed)
        mlm = AutoModelForMaskedLM.from_config(config)
        if name == "bert-sdpa":
            mlm.set_attn_implementation("sdpa")
        seconds = fit(mlm, mlm_batches, args.lr)
        mlm.eval()
        with torch.no_grad():
            mlm_loss = sum(mlm(input_ids=i, labels=lab).loss.item() for i, lab in mlm_eval) / len(mlm_eval)
        results[name] = {"mlm_loss": mlm_loss}
        if args.clf_steps:  # --clf-steps 0: the MLM comparison only
            with tempfile.TemporaryDirectory() as folder:
                mlm.save_pretrained(folder)
                clf = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(CORPORA))
            seconds += fit(clf, clf_batches, args.clf_lr)
            clf.eval()
            with torch.no_grad():
                preds = torch.cat([clf(input_ids=chunk).logits.argmax(-1) for chunk in clf_eval[0].split(8)])
            results[name]["accuracy"] = (preds == clf_eval[1]).float().mean().item()
        results[name]["train_seconds"] = seconds
        print(f"{name}: {results[name]}")
    for name, values in results.items():
        for metric, value in values.items():
            bench.add(name, metric, value, baseline="bert-sdpa", baseline_value=results["bert-sdpa"][metric])
    return bench.finish(args.json)


if __name__ == "__main__":
    main()
