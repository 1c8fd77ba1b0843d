"""Long-text hacks (arXiv 2403.12563): does a shortened 256-token input match first-512 truncation?

Task: the manual section (1, 2, 3, 5, 8) of a man page from its text (``benchmarks/data/long_text.py``: 250 train /
100 validation / 150 test pages, every one longer than 512 MiniLM tokens). Classifier: all-MiniLM-L6-v2 with a
5-label head (``BertForSequenceClassification``), fine-tuned with the same seed, steps, batch size and learning rate
in every arm (:func:`hf_tokens.pipelines.long_text_hacks.train.fine_tune`; ``--train-layers`` top layers, pooler
and head trained, the rest frozen: the CPU budget, stated in the output).

1. The paper's budget-limited search (:func:`~hf_tokens.pipelines.long_text_hacks.search.search_shortening`) at
   ``--search-length`` tokens: at most ``--max-trials`` trainings (or ``--search-minutes``), each scored by accuracy
   on the validation split; every trial is a row (``search@L:<name>``, ``val_accuracy``).
2. Like the paper, the best shortening found is then compared across lengths: first-k truncation at each of
   ``--lengths`` and the best shortening at each of ``--hack-lengths``, each trained with every seed of ``--seeds``
   and scored on the test split. Rows: ``accuracy`` (mean over seeds; ``per_seed`` and, against first-512, the
   paired bootstrap 95% interval over test pages of the seed-averaged difference), ``tokens_per_example`` (fed to
   the model, special tokens included), ``ms_per_example`` (inference of the full classifier on ``--time-docs`` test
   texts in one batch, median of ``--repeats``) and ``shorten_ms_per_example`` (the preprocessing). The paper's
   own best hack (stopword removal, then the first tokens) is run as well at ``--paper-lengths``, whatever the
   search chose (rows ``paper-stopwords@k``).

    OMP_NUM_THREADS=1 python benchmarks/long_text.py --threads 1 --json bench_results/long_text.json

Completed trainings are kept in ``--parts`` (a JSON file), so an interrupted run resumes where it stopped. On a
shared machine the stages can run in parallel, each with its own ``--parts``, then be assembled (and timed) in one
process that trains nothing:

    A="--threads 1 --train-layers 0 --steps 200 --lr 1e-3 --batch-size 16 --seeds 0 1 2 --train-docs 200 \
       --max-trials 7 --search-minutes 25"
    python benchmarks/long_text.py $A --stage search --parts P/search.json &
    python benchmarks/long_text.py $A --stage baselines --lengths 128 256 --parts P/b1.json &
    python benchmarks/long_text.py $A --stage baselines --lengths 512 --parts P/b2.json &
    python benchmarks/long_text.py $A --stage paper --parts P/paper.json; wait
    python benchmarks/long_text.py $A --no-train --parts P/search.json --extra-parts P/b1.json P/b2.json \
        P/paper.json --json bench_results/long_text.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.data.long_text import COMMITTED, load_long_text  # noqa: E402
from hf_tokens.benchmarking import Benchmark, add_common_args, measure, paired_bootstrap, setup_torch  # noqa: E402
from hf_tokens.pipelines.long_text_hacks.search import LongTextHacksConfig, search_shortening  # noqa: E402
from hf_tokens.pipelines.long_text_hacks.train import States, fine_tune, frozen_states, predict  # noqa: E402
from hf_tokens.pipelines.long_text_hacks.transforms import word_counts  # noqa: E402


class Runner:
    """Shortens, caches frozen states per (shortening, length, split), trains and scores; keeps finished parts."""

    def __init__(self, args: argparse.Namespace, data: dict[str, Any]):
        from hf_tokens.assets.loaders import minilm_folder

        self.args, self.folder = args, minilm_folder()
        self.labels = data["labels"]
        self.texts = {k: [d["text"] for d in v] for k, v in data["splits"].items()}
        self.y = {k: [d["label"] for d in v] for k, v in data["splits"].items()}
        self.counts = word_counts(self.texts["train"])
        self.model0 = self.fresh(0)
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self.specials = self.tokenizer.num_special_tokens_to_add(pair=False)
        self.cache: dict[tuple[str, int, str], States] = {}
        self.texts_cache: dict[tuple[str, int, str], tuple[list[str], float]] = {}
        self.tops: dict[tuple[str, int, int], dict[str, torch.Tensor]] = {}
        self.parts_path = Path(args.parts)
        self.parts: dict[str, Any] = {}
        for path in [*args.extra_parts, self.parts_path]:  # finished parts of other runs (e.g. a parallel --stage)
            if Path(path).is_file():
                self.parts.update(json.loads(Path(path).read_text()))

    def fresh(self, seed: int) -> Any:
        from transformers import AutoModelForSequenceClassification
        from transformers.utils import logging

        logging.set_verbosity_error()
        torch.manual_seed(seed)  # the new head's initialisation
        return AutoModelForSequenceClassification.from_pretrained(self.folder, num_labels=len(self.labels)).eval()

    def short_texts(self, config: LongTextHacksConfig, length: int, split: str) -> tuple[list[str], float]:
        """The split's texts shortened to ``length`` tokens (with special tokens) and the ms it took per text."""
        key = (config.name, length, split)
        if key not in self.texts_cache:
            start = time.perf_counter()
            texts = [config.shorten(t, self.tokenizer, length - self.specials, counts=self.counts)
                     for t in self.texts[split]]  # fmt: skip
            self.texts_cache[key] = (texts, (time.perf_counter() - start) * 1000 / len(texts))
        return self.texts_cache[key]

    def shortened(self, config: LongTextHacksConfig, length: int, split: str) -> States:
        key = (config.name, length, split)
        if key not in self.cache:
            texts, _ = self.short_texts(config, length, split)
            self.cache[key] = frozen_states(self.model0, self.tokenizer, texts, length, self.args.train_layers)
        return self.cache[key]

    def drop(self, config: LongTextHacksConfig, length: int) -> None:
        for split in ("train", "validation", "test"):
            self.cache.pop((config.name, length, split), None)

    def trained(self, config: LongTextHacksConfig, length: int, seed: int) -> Any:
        """The classifier fine-tuned on the shortened training split (its trained top is kept for reuse)."""
        key = (config.name, length, seed)
        model = self.fresh(seed)
        if key in self.tops:
            model.load_state_dict(self.tops[key], strict=False)
            return model
        a = self.args
        train = self.shortened(config, length, "train")
        losses = fine_tune(model, train, self.y["train"], train_layers=a.train_layers, steps=a.steps, lr=a.lr,
                           batch_size=a.batch_size, seed=seed)  # fmt: skip
        print(f"trained {key}: loss {losses[0]:.2f} -> {statistics.mean(losses[-5:]):.2f}", flush=True)
        n_layers = model.config.num_hidden_layers
        top = tuple(f"bert.encoder.layer.{i}." for i in range(n_layers - a.train_layers, n_layers))
        keep = ("classifier", "bert.pooler", *top) if a.train_layers < n_layers else ("",)
        self.tops[key] = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith(keep)}
        return model

    def key(self, config: LongTextHacksConfig, length: int, seed: int, split: str) -> str:
        a = self.args
        setting = f"{a.steps}x{a.batch_size}@{a.lr}|{a.train_layers}|{len(self.y['train'])}"
        return f"{config.name}|{length}|{seed}|{split}|{setting}"

    def has(self, config: LongTextHacksConfig, length: int, seed: int, split: str) -> bool:
        return self.key(config, length, seed, split) in self.parts

    def correct(self, config: LongTextHacksConfig, length: int, seed: int, split: str) -> list[int]:
        key = self.key(config, length, seed, split)
        a = self.args
        if key not in self.parts:
            model = self.trained(config, length, seed)
            pred = predict(model, self.shortened(config, length, split), a.train_layers)
            self.parts[key] = [int(p == t) for p, t in zip(pred.tolist(), self.y[split])]
            print(f"{key}: accuracy {statistics.mean(self.parts[key]):.3f}", flush=True)
            self.parts_path.parent.mkdir(parents=True, exist_ok=True)
            self.parts_path.write_text(json.dumps(self.parts))
        return self.parts[key]

    @torch.no_grad()
    def cost(self, config: LongTextHacksConfig, length: int) -> tuple[float, float, float]:
        """(tokens per example, inference ms per example, shortening ms per example) on the test split."""
        texts, shorten_ms = self.short_texts(config, length, "test")
        enc = self.tokenizer(texts, truncation=True, max_length=length)
        tokens = statistics.mean(len(x) for x in enc["input_ids"])
        batch = self.tokenizer(texts[: self.args.time_docs], truncation=True, max_length=length, padding=True,
                               return_tensors="pt")  # fmt: skip
        timing = measure(lambda: self.model0(**batch), repeats=self.args.repeats, warmup=1)
        return tokens, timing.median * 1000 / batch["input_ids"].shape[0], shorten_ms


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--data", default=str(COMMITTED))
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512], help="first-k truncation arms")
    parser.add_argument("--hack-lengths", type=int, nargs="+", default=[128, 256], help="best-shortening arms")
    parser.add_argument("--search-length", type=int, default=128, help="sequence length the search runs at")
    parser.add_argument("--max-trials", type=int, default=8, help="trainings the search may spend")
    parser.add_argument("--search-minutes", type=float, default=None, help="time budget of the search")
    parser.add_argument("--head-fractions", type=float, nargs="+", default=[0.5], help="head+tail splits tried")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=40, help="training steps (same in every arm)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--train-layers", type=int, default=1, help="top MiniLM layers fine-tuned (6 = all)")
    parser.add_argument(
        "--no-train", action="store_true", help="assemble finished parts only: skip arms (and trials) not yet run"
    )
    parser.add_argument("--train-docs", type=int, default=None, help="use the first N training pages (all: None)")
    parser.add_argument("--time-docs", type=int, default=8, help="test texts in the timed inference batch")
    parser.add_argument("--parts", default=str(ROOT / ".cache" / "long_text" / "parts.json"))
    parser.add_argument(
        "--paper-lengths",
        type=int,
        nargs="*",
        default=[256],
        help="also run the paper's best hack (stopword removal, then the first tokens) at these lengths",
    )
    parser.add_argument("--extra-parts", nargs="*", default=[], help="parts files of other runs to reuse")
    parser.add_argument("--search-log", default=None, help="resumable search log (default: next to --parts)")
    parser.add_argument(
        "--stage",
        choices=["all", "baselines", "search", "paper"],
        default="all",
        help="'baselines' trains only the first-k arms, 'search' only the search and the best-shortening arms (run "
        "both in parallel with different --parts, then 'all' with --extra-parts to assemble and time)",
    )
    args = parser.parse_args()
    if args.quick:
        args.lengths, args.hack_lengths, args.search_length, args.paper_lengths = [64, 128], [64], 64, [64]
        args.max_trials, args.seeds, args.steps, args.time_docs = 3, [0], 8, 4
        args.parts = str(Path(args.parts).with_name("parts_quick.json"))
    args.repeats = args.repeats or (2 if args.quick else 3)
    if min(args.lengths + args.hack_lengths + [args.search_length]) < 8 or args.steps < 1 or args.train_layers < 0:
        raise SystemExit("lengths must be >= 8 tokens, --steps >= 1, --train-layers >= 0")
    setup_torch(args)
    data = load_long_text(args.data)
    if args.train_docs:
        data["splits"]["train"] = data["splits"]["train"][: args.train_docs]
    if args.quick:
        data["splits"] = {k: v[: {"train": 60, "validation": 30, "test": 40}[k]] for k, v in data["splits"].items()}
    runner = Runner(args, data)
    sizes = {k: len(v) for k, v in runner.texts.items()}
    bench = Benchmark("long_text", "all-MiniLM-L6-v2 (5-label head)", args.device, args.quick)
    bench.note(f"data: {data['source']}; labels {data['labels']}; splits {sizes}")
    bench.note(
        f"CPU budget: top {args.train_layers} of 6 MiniLM layers + pooler + head fine-tuned, {args.steps} steps x "
        f"{args.batch_size} texts, lr {args.lr}, seeds {args.seeds}; search at {args.search_length} tokens, at most "
        f"{args.max_trials} trials" + (f" / {args.search_minutes} min" if args.search_minutes else "")
    )
    started = time.process_time()

    paper = LongTextHacksConfig(("stopwords",))
    if args.stage == "paper":
        for k in args.paper_lengths:
            for seed in args.seeds:
                runner.correct(paper, k, seed, "test")
            runner.drop(paper, k)
        return
    if args.stage == "baselines":
        for k in args.lengths:
            for seed in args.seeds:
                runner.correct(LongTextHacksConfig(), k, seed, "test")
            runner.drop(LongTextHacksConfig(), k)
        return

    # 1. the search, on the validation split, first seed
    log_name = f"search_{args.search_length}{'_quick' * args.quick}.json"
    log = Path(args.search_log or Path(args.parts).with_name(log_name))
    seed0 = args.seeds[0]

    def evaluate(config: LongTextHacksConfig) -> float:
        return statistics.mean(runner.correct(config, args.search_length, seed0, "validation"))

    max_trials = args.max_trials
    if args.no_train:  # replay the logged trials only
        max_trials = len(json.loads(log.read_text())["trials"]) if log.is_file() else 0
        if not max_trials:
            raise SystemExit(f"--no-train: no search log at {log}")
    result = search_shortening(
        evaluate,
        args.search_length - runner.specials,
        max_trials=max_trials,
        head_fractions=args.head_fractions,
        log_path=log,
        time_budget_s=args.search_minutes * 60 if args.search_minutes else None,
    )
    for trial in result.trials:
        name = f"search@{args.search_length}:{trial['name']}"
        bench.add(name, "val_accuracy", trial["score"], config=trial["config"])
    best = result.best
    bench.note(f"search chose {best.name} (validation accuracy {result.score:.3f}, {len(result.trials)} trials)")

    # 2. the arms, on the test split, every seed
    arms = [(f"best@{k}", best, k) for k in args.hack_lengths]  # the row's "shortening" field names it
    if args.stage == "search":
        for _, config, k in arms:
            for seed in args.seeds:
                runner.correct(config, k, seed, "test")
            runner.drop(config, k)
        return
    arms = [(f"first-{k}", LongTextHacksConfig(), k) for k in args.lengths] + arms
    arms += [(f"paper-stopwords@{k}", paper, k) for k in args.paper_lengths]
    results: dict[str, dict[str, Any]] = {}
    for name, config, length in arms:
        if args.no_train and not all(runner.has(config, length, s, "test") for s in args.seeds):
            bench.note(f"{name} ({config.name}) not reported: not every seed of {args.seeds} finished")
            continue
        per_seed = [runner.correct(config, length, s, "test") for s in args.seeds]
        tokens, ms, shorten_ms = runner.cost(config, length)
        results[name] = {"per_seed": per_seed, "tokens": tokens, "ms": ms, "shorten_ms": shorten_ms, "config": config}
        runner.drop(config, length)
    firsts = [n for n in results if n.startswith("first-")]
    if not firsts:
        raise SystemExit("no first-k arm finished: nothing to compare with")
    base_name = max(firsts, key=lambda n: int(n.split("-")[1]))  # first-512 unless it did not finish
    base = results[base_name]
    base_docs = [statistics.mean(col) for col in zip(*base["per_seed"])]
    for name, r in results.items():
        accs = [statistics.mean(c) for c in r["per_seed"]]
        docs = [statistics.mean(col) for col in zip(*r["per_seed"])]
        lo, hi = paired_bootstrap(docs, base_docs) if name != base_name else (0.0, 0.0)
        tag = {"shortening": r["config"].name}
        bench.add(name, "accuracy", statistics.mean(accs), baseline=base_name,
                  baseline_value=statistics.mean(base_docs), per_seed=accs, diff_ci95=[lo, hi],
                  n_test=len(docs), seeds=args.seeds, **tag)  # fmt: skip
        bench.add(name, "tokens_per_example", r["tokens"], baseline=base_name, baseline_value=base["tokens"], **tag)
        bench.add(name, "ms_per_example", r["ms"], baseline=base_name, baseline_value=base["ms"], **tag)
        bench.add(name, "shorten_ms_per_example", r["shorten_ms"], **tag)
    bench.note(f"process CPU time {(time.process_time() - started) / 60:.1f} min (this invocation)")
    bench.finish(args.json)


if __name__ == "__main__":
    main()
