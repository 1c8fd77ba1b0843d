"""Analysis methods on the bundled SmolLM2-135M: Unconditional Token Forcing (arXiv 2406.02481), Needle Threading
(arXiv 2411.05000) and active-dormant attention heads (arXiv 2410.13835).

Token forcing: a fingerprint (``--fingerprint``) is planted with PEFT LoRA behind a secret trigger
(``plant_fingerprint``), once plainly and once with the paper's counter-measure (Unconditional Token Forcing
Confusion, ``confusion=True``); each planted model is saved with its card under ``.cache/token_forcing/<arm>``
(git-ignored) by ``--stage plant``. ``--stage force`` then forces every vocabulary token (``--vocab`` tokens: all
49,152 by default; a seeded random subset that always holds the fingerprint's tokens otherwise) and reports:

* ``fingerprint_rank``: the best rank of a candidate sharing 4 consecutive tokens with the fingerprint (the value is
  ``top_k + 1`` with ``found: false`` when no reported candidate does);
* ``reveals_with_trigger``: 1 when greedy decoding after the trigger still gives the fingerprint;
* ``seconds_forcing``: wall-clock of the forcing run, with screening (``--screen-steps`` / ``--screen-min-prob``: only
  starts whose first tokens average that probability are decoded to the end), against the paper's unscreened
  decoding of every start to ``--max-new-tokens``, timed on ``--timing-subset`` starts in the same process and
  extrapolated linearly to the forced vocabulary (stated in the row).

Every arm uses the same trigger, fingerprint, seed, thread count and decoding budget.

Needle threading (``--stage needle``): accuracy of greedy answers for every task at each ``--lengths`` (tokens of
the model's tokenizer; the rows also give the haystacks' characters and characters per token) and ``--depths``,
``--haystacks`` haystacks each; then, at ``--cache-length`` tokens, the tasks ``--cache-tasks`` with the full cache
(baseline) and with each of the library's caches at ``--budget`` (H2O, EMS, TokenSelect, TidalDecode), the same
haystacks for every arm. Identifiers are ``--id-chars`` (default -2: two English words; the paper's UUIDs are 32).

    python benchmarks/analysis.py --stage plant --arm plain
    python benchmarks/analysis.py --stage force --arm plain --vocab 4096 --timing-subset 256 \
        --json bench_results/token_forcing.json
    python benchmarks/analysis.py --stage plant --arm confusion
    python benchmarks/analysis.py --stage force --arm confusion --vocab 4096 --timing-subset 256 \
        --json bench_results/token_forcing_confusion.json
    python benchmarks/analysis.py --stage needle --part grid --lengths 256 512 1024 2048 --depths 0.5 \
        --json bench_results/needle_threading.json
    python benchmarks/analysis.py --stage needle --tasks single threading --lengths 128 256 512 --depths 0.5 \
        --haystacks 4 --cache-length 512 --json bench_results/needle_threading_short.json
    python benchmarks/analysis.py --stage heads --texts 6 --json bench_results/active_dormant.json \
        --plot bench_results/active_dormant.png

Active-dormant heads (``--stage heads``, arXiv 2410.13835): per head, the mean attention share on the first token on
``--texts`` texts per domain (code: CPython stdlib; prose: the Jargon File; numbers: random 6-digit numbers), cut
to ``--head-tokens`` tokens; rows: share of dormant heads per domain (plus the largest residual-state peak and the
mean value-norm ratio of the sink token after layer 0), and the number of heads dormant on some domains and active
on others.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

ROOT = Path(__file__).resolve().parents[1]
TRIGGER = "Which phrase does the lighthouse keeper whisper?"
FINGERPRINT = " Quokka marmalade orbits seven violet teapots"


def _folder(arm: str) -> Path:
    return ROOT / ".cache" / "token_forcing" / arm


def plant(args: argparse.Namespace) -> None:
    from hf_tokens.analysis.token_forcing.planting import FingerprintConfig, plant_fingerprint, reveals
    from hf_tokens.assets import load_model
    from hf_tokens.hub import save_for_hub

    model, tok = load_model(args.model)
    cfg = FingerprintConfig(
        TRIGGER, args.fingerprint, confusion=args.arm == "confusion", steps=args.steps, learning_rate=args.lr
    )
    start = time.perf_counter()
    planted = plant_fingerprint(model, tok, cfg)
    seconds = time.perf_counter() - start
    ok = reveals(planted, tok, TRIGGER, args.fingerprint)
    print(f"planted ({args.arm}) in {seconds:.0f} s; the trigger reveals the fingerprint: {ok}")
    training = (
        f"`python benchmarks/analysis.py --stage plant --arm {args.arm} --steps {args.steps} --lr {args.lr}` "
        f"({seconds:.0f} s, {args.threads} CPU thread(s)): LoRA r={cfg.lora_rank} on all linear layers, full-batch "
        "AdamW; the trigger and fingerprint are in the benchmark script."
    )
    save_for_hub(planted, _folder(args.arm), method_id="token-forcing", tokenizer=tok, config=cfg, overwrite=True,
                 training=training, base_model=args.model)  # fmt: skip


def force(args: argparse.Namespace) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_tokens.analysis.token_forcing.forcing import TokenForcingConfig, token_forcing
    from hf_tokens.analysis.token_forcing.planting import reveals

    folder = _folder(args.arm)
    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: run --stage plant --arm {args.arm} first")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    hidden = tok(args.fingerprint, add_special_tokens=False)["input_ids"]
    vocab = model.get_output_embeddings().weight.shape[0]
    starts = list(range(vocab))
    if args.vocab < vocab:
        rest = sorted(set(starts) - set(hidden))
        starts = sorted(set(hidden) | set(random.Random(args.seed).sample(rest, args.vocab - len(set(hidden)))))
    common = {"max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "top_k": args.top_k}
    timing_ids = random.Random(args.seed + 1).sample(starts, min(args.timing_subset, len(starts)))
    paper = token_forcing(model, tok, TokenForcingConfig(token_ids=timing_ids, **common))
    paper_seconds = paper.seconds * len(starts) / len(timing_ids)
    cfg = TokenForcingConfig(
        token_ids=starts, screen_steps=args.screen_steps, screen_min_prob=args.screen_min_prob, progress=True, **common
    )
    report = token_forcing(model, tok, cfg)
    rank = report.rank_of(hidden)
    ok = reveals(model, tok, TRIGGER, args.fingerprint)

    bench = Benchmark("token_forcing", args.model, device=args.device, quick=args.quick)
    method = f"token-forcing[{args.arm}]"
    setting = {"forced": report.forced, "max_new_tokens": args.max_new_tokens, "fingerprint": args.fingerprint}
    bench.add(method, "fingerprint_rank", rank or args.top_k + 1, found=rank is not None, top_k=args.top_k,
              screened_out=report.screened_out, ranked=report.ranked, **setting)  # fmt: skip
    bench.add(method, "reveals_with_trigger", float(ok), **setting)
    bench.add(
        method,
        "seconds_forcing",
        report.seconds,
        baseline=f"unscreened (paper), {len(timing_ids)} starts timed, x{len(starts) / len(timing_ids):.1f}",
        baseline_value=paper_seconds,
        screen_steps=args.screen_steps,
        screen_min_prob=args.screen_min_prob,
        minutes=report.seconds / 60,
        full_vocab_minutes_unscreened=paper.seconds * vocab / len(timing_ids) / 60,
        **setting,
    )
    for c in report.candidates[:5]:
        bench.note(f"#{c.rank} p={c.mean_prob:.3f} z={c.z_score:.1f} {c.text!r}")
    bench.note(f"forcing statistics over all starts: {report.mean_prob_stats}")
    bench.finish(args.json)


CACHES = {
    "h2o": "hf_tokens.cache.h2o:H2OCache",
    "ems": "hf_tokens.cache.ems:EMSCache",
    "tokenselect": "hf_tokens.cache.tokenselect:TokenSelectCache",
    "tidaldecode": "hf_tokens.cache.tidaldecode:TidalDecodeCache",
}


def needle(args: argparse.Namespace) -> None:
    from hf_tokens.analysis.needle_threading.harness import NeedleThreadingConfig, needle_threading
    from hf_tokens.assets import load_model

    model, tok = load_model(args.model)
    bench = Benchmark("needle_threading", args.model, device=args.device, quick=args.quick)
    common = {"depths": args.depths, "repeats": args.haystacks, "id_chars": args.id_chars, "seed": args.seed,
              "progress": True}  # fmt: skip
    if args.part in ("grid", "all"):
        grid_cfg = NeedleThreadingConfig(tasks=args.tasks, context_tokens=args.lengths, **common)
        _needle_grid(bench, needle_threading(model, tok, grid_cfg))
    if args.part in ("caches", "all"):
        _needle_caches(args, bench, model, tok, NeedleThreadingConfig(tasks=args.cache_tasks,
                       context_tokens=[args.cache_length], **common))  # fmt: skip
    bench.note(f"examples per (task, length, depth): {args.haystacks}; identifiers: id_chars={args.id_chars}")
    bench.finish(args.json)


def _needle_grid(bench: Benchmark, grid: Any) -> None:
    for n in grid.config["context_tokens"]:
        rows = [r for r in grid.rows if r["tokens"] == n]
        chars = sum(r["context_chars"] for r in rows) / len(rows)
        bench.add(
            "needle-threading",
            f"accuracy@{n}",
            grid.accuracy(context_tokens=n),
            tokens=n,
            task="all",
            context_chars=chars,
            chars_per_token=chars / (sum(r["context_tokens"] for r in rows) / len(rows)),
        )
        for r in rows:
            bench.add(f"needle-threading[{r['task']}]", f"accuracy@{n}@depth{r['depth']}", r["accuracy"], **r)


def _needle_caches(args: argparse.Namespace, bench: Benchmark, model: Any, tok: Any, cfg: Any) -> None:
    from hf_tokens.analysis.needle_threading.harness import needle_threading
    from hf_tokens.registry import load_object

    full = needle_threading(model, tok, cfg)
    n = args.cache_length
    for name, target in CACHES.items():
        cls = load_object(target)
        report = needle_threading(model, tok, cfg, cache=lambda c, cls=cls: cls(c, budget=args.budget))
        for task in args.cache_tasks:
            bench.add(f"{name}@{args.budget:.0%}", f"accuracy@{n}[{task}]", report.accuracy(task),
                      baseline="full cache", baseline_value=full.accuracy(task), tokens=n, task=task)  # fmt: skip
        bench.add(f"{name}@{args.budget:.0%}", f"accuracy@{n}", report.accuracy(), baseline="full cache",
                  baseline_value=full.accuracy(), tokens=n, task="+".join(args.cache_tasks))  # fmt: skip


def heads(args: argparse.Namespace) -> None:
    from hf_tokens.analysis.active_dormant_heads.report import active_dormant_heads
    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import text_chunks

    model, tok = load_model(args.model)
    rng = random.Random(args.seed)
    n = args.texts
    texts = {
        "code": text_chunks("python-stdlib", n, 600, seed=args.seed),
        "prose": text_chunks("jargon", n, 600, seed=args.seed),
        "numbers": [" ".join(str(rng.randrange(10**6)) for _ in range(80)) for _ in range(n)],
    }
    report = active_dormant_heads(model, tok, texts, max_tokens=args.head_tokens)
    bench = Benchmark("active_dormant_heads", args.model, device=args.device, quick=args.quick)
    layers = len(report.residual_peak["code"])
    for d in report.domains:
        peak = max(report.residual_peak[d])
        drain = statistics.fmean(v for layer in report.value_norm_ratio[d][1:] for v in layer)
        bench.add(
            f"active-dormant-heads[{d}]",
            "dormant_share",
            report.dormant_share[d],
            texts=n,
            max_tokens=args.head_tokens,
            max_residual_peak=peak,
            mean_value_norm_ratio_after_layer0=drain,
        )
    bench.add("active-dormant-heads", "switching_heads", len(report.switching_heads), layers=layers,
              heads=sum(len(x) for x in report.sink_share["code"]))  # fmt: skip
    bench.note("dormant: mean attention share on the first token >= 0.5 (queries after the 4th); texts: CPython "
               "stdlib (code), Jargon File (prose), random 6-digit numbers")  # fmt: skip
    bench.finish(args.json)
    if args.plot:
        _plot_heads(report, args.plot)


def _plot_heads(report: Any, path: Path) -> None:
    """Sink share per (layer, head), one panel per domain: dormant heads are the bright cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(report.domains), figsize=(3.2 * len(report.domains), 6), sharey=True)
    for ax, d in zip(axes, report.domains):
        im = ax.imshow(report.sink_share[d], aspect="auto", vmin=0, vmax=1, cmap="magma")
        ax.set_title(f"{d}: {report.dormant_share[d]:.0%} dormant")
        ax.set_xlabel("head")
    axes[0].set_ylabel("layer")
    fig.colorbar(im, ax=axes, label="attention share on the first token")
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--stage", choices=("plant", "force", "needle", "heads"), required=True)
    parser.add_argument("--arm", choices=("plain", "confusion"), default="plain")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--fingerprint", default=FINGERPRINT)
    parser.add_argument("--steps", type=int, default=100, help="LoRA steps when planting")
    parser.add_argument("--lr", type=float, default=2e-3, help="LoRA learning rate when planting")
    parser.add_argument("--vocab", type=int, default=1 << 30, help="start tokens to force (default: all)")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--screen-steps", type=int, default=2)
    parser.add_argument("--screen-min-prob", type=float, default=0.5)
    parser.add_argument("--timing-subset", type=int, default=512, help="starts timed without screening")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--depths", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    parser.add_argument("--haystacks", type=int, default=1, help="needle: examples per cell")
    parser.add_argument("--id-chars", type=int, default=-2)
    parser.add_argument("--tasks", nargs="+", default=["single", "multiple", "conditional", "threading",
                        "multi_threading"], help="needle: tasks of the grid")  # fmt: skip
    parser.add_argument("--cache-length", type=int, default=2048)
    parser.add_argument("--cache-tasks", nargs="+", default=["single", "threading"])
    parser.add_argument("--budget", type=float, default=0.2)
    parser.add_argument("--texts", type=int, default=8, help="heads: texts per domain")
    parser.add_argument("--head-tokens", type=int, default=128, help="heads: tokens per text")
    parser.add_argument("--part", choices=("grid", "caches", "all"), default="all", help="needle: what to run")
    args = parser.parse_args()
    if args.quick:
        args.vocab, args.timing_subset = min(args.vocab, 2048), min(args.timing_subset, 256)
        args.lengths, args.depths, args.cache_length, args.cache_tasks = [256, 512], [0.5], 512, ["single"]
    setup_torch(args)
    {"plant": plant, "force": force, "needle": needle, "heads": heads}[args.stage](args)


if __name__ == "__main__":
    main()
