"""Shared harness of the ``benchmarks/`` scripts: repeated timing, the JSON result schema, tables and plots.

Every benchmark script builds a :class:`Benchmark`, measures methods and their baseline in the same process with
:func:`measure` (median of several repetitions), adds rows with :meth:`Benchmark.add`, and ends with
:meth:`Benchmark.finish`, which prints a table and writes::

    {"benchmark", "model", "hardware", "threads", "device", "quick", "rows": [
        {"method", "metric", "value", "baseline", "baseline_value", "ratio", ...extra}]}

with ``ratio = value / baseline_value``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Measurement:
    """Repeated measurements of one quantity: median and spread."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """Half the range (max - min) / 2, in the unit of the values."""
        return (max(self.values) - min(self.values)) / 2 if self.values else 0.0

    def __float__(self) -> float:
        return self.median


def measure(
    fn: Callable[[], Any], *, repeats: int = 3, warmup: int = 1, sync: Callable[[], None] | None = None
) -> Measurement:
    """Wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` unmeasured runs."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(max(0, warmup)):
        fn()
    times = []
    for _ in range(repeats):
        if sync:
            sync()
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return Measurement(times)


# two-sided 95% Student t quantiles by degrees of freedom (no scipy needed); 1.96 beyond
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def mean_t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the 95% Student-t interval of the mean (the interval is the mean itself for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = _T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


MAX_SEED_FILES = 10


def summarise_seeds(
    paths: Sequence[Path],
    name: str,
    model: str,
    *,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    suffix: str = "",
) -> Benchmark:
    """Combine the result files of one benchmark run at different seeds into one row per (method, metric).

    Each kept row (``keep(row)``, default all) of the first file whose value is a number in every file becomes a row
    ``metric + suffix`` with the mean over seeds, ``per_seed``, ``n_seeds`` and its 95% Student-t interval
    (``ci95``); a row with a baseline measured in every run adds the mean baseline, ``baseline_per_seed``, the mean
    paired difference (value minus baseline) with its interval (``diff_mean``, ``diff_ci95``) and in how many seeds
    the value is above the baseline (``ahead``). Extra fields equal in every file (``n``, parameter counts) are kept;
    numeric ones that differ become their mean, with ``<field>_per_seed``. Returns the unfinished
    :class:`Benchmark` (add notes, then ``finish``).
    """
    if not 2 <= len(paths) <= MAX_SEED_FILES:
        raise ValueError(f"paths: 2 to {MAX_SEED_FILES} result files, got {len(paths)}")
    runs = []
    for path in paths:
        try:
            runs.append(json.loads(Path(path).read_text(encoding="utf-8"))["rows"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"paths: {path} is not a readable benchmark result JSON with 'rows' ({exc!r})") from exc
    keyed = [{(r["method"], r["metric"]): r for r in rows} for rows in runs]
    bench = Benchmark(name, model)
    bench.note(f"summary of {len(paths)} seeds: {', '.join(Path(p).name for p in paths)}")
    for first in runs[0]:
        key = (first["method"], first["metric"])
        rows = [run.get(key) for run in keyed]
        if any(r is None or not isinstance(r.get("value"), (int, float)) for r in rows) or (keep and not keep(first)):
            continue
        values = [float(r["value"]) for r in rows]  # type: ignore[index]
        mean, lo, hi = mean_t_interval(values)
        extra: dict[str, Any] = {"n_seeds": len(values), "per_seed": values, "ci95": [lo, hi]}
        base = [r.get("baseline_value") for r in rows]  # type: ignore[union-attr]
        paired = all(isinstance(b, (int, float)) for b in base)
        if paired:
            diffs = [v - float(b) for v, b in zip(values, base)]  # type: ignore[arg-type]
            diff, diff_lo, diff_hi = mean_t_interval(diffs)
            extra |= {"baseline_per_seed": base, "diff_mean": diff, "diff_ci95": [diff_lo, diff_hi]}
            extra["ahead"] = sum(d > 0 for d in diffs)
        for field_name, field_value in first.items():
            if field_name in _ROW_FIELDS or field_name in extra:
                continue
            seen = [r.get(field_name) for r in rows]  # type: ignore[union-attr]
            if all(v == field_value for v in seen) and isinstance(field_value, (int, float, str)):
                extra[field_name] = field_value
            elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen):
                extra[field_name] = statistics.fmean(seen)  # type: ignore[arg-type]
                extra[f"{field_name}_per_seed"] = seen
        bench.add(
            key[0],
            key[1] + suffix,
            mean,
            baseline=first.get("baseline"),
            baseline_value=statistics.fmean(base) if paired else None,  # type: ignore[arg-type]
            **extra,
        )
    return bench


_ROW_FIELDS = frozenset({"method", "metric", "value", "baseline", "baseline_value", "ratio", "spread"})


def paired_bootstrap(a: Sequence[float], b: Sequence[float], reps: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of mean(a) - mean(b) over paired items (prompts, texts) resampled with replacement."""
    if len(a) != len(b) or not a:
        raise ValueError(f"a and b must be non-empty and of equal length, got {len(a)} and {len(b)}")
    rng = random.Random(seed)
    diffs = [x - y for x, y in zip(a, b)]
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(reps))
    return (means[int(0.025 * reps)], means[int(0.975 * reps) - 1])


def paired_log_ratio(
    log_a: Sequence[float], log_b: Sequence[float], reps: int = 10000, seed: int = 0
) -> tuple[float, float, float]:
    """Geometric-mean ratio of a over b from paired log values (perplexities, NLLs), with its 95% paired-bootstrap
    interval: ``exp`` of the mean difference and of :func:`paired_bootstrap`'s bounds."""
    low, high = paired_bootstrap(log_a, log_b, reps, seed)
    return math.exp(statistics.fmean(x - y for x, y in zip(log_a, log_b))), math.exp(low), math.exp(high)


def hardware() -> str:
    """A one-line description of the machine (CPU model and core count, or the CUDA device)."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def threads() -> int:
    import torch

    return torch.get_num_threads()


def peak_allocated_bytes(fn: Callable[[], Any], device: str = "cpu") -> int:
    """Peak of (bytes allocated by torch - bytes allocated before ``fn``) while ``fn()`` runs, on CPU or CUDA.

    CUDA: the allocator's statistics. CPU: ``tracemalloc`` does not see torch's allocator and the process RSS
    high-water mark cannot be reset between measurements, so every allocation and free of torch's CPU allocator is
    recorded with the profiler (``profile_memory=True``) and the peak of the running total is taken. The profiler's
    library (kineto) prints ``USDT: profiler_start/stop`` lines unless its log level is above USDT (5); it reads
    ``KINETO_LOG_LEVEL`` once, when first used, so the level is set for that moment unless the caller chose one.
    """
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - base)
    from torch.profiler import ProfilerActivity, profile

    quiet = "KINETO_LOG_LEVEL" not in os.environ
    if quiet:
        os.environ["KINETO_LOG_LEVEL"] = "6"
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    finally:
        if quiet:
            del os.environ["KINETO_LOG_LEVEL"]
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as fh:
            events = json.load(fh)["traceEvents"]
    finally:
        os.unlink(path)
    mem = sorted(
        (e for e in events if e.get("name") == "[memory]" and e["args"].get("Device Type", 0) == 0),
        key=lambda e: (e["ts"], e["args"].get("Ev Idx", 0)),
    )
    total = peak = 0
    for e in mem:
        total += int(e["args"]["Bytes"])
        peak = max(peak, total)
    return peak


def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags every benchmark script takes: --quick, --json, --plot, --threads, --device, --repeats."""
    parser.add_argument("--quick", action="store_true", help="small settings, under 5 minutes on 2 CPU cores")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON to this path")
    parser.add_argument("--plot", type=Path, default=None, help="draw the headline figure to this PNG path")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (stated in the output)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions per measurement (median reported)")
    return parser


def setup_torch(args: argparse.Namespace) -> None:
    """Apply --threads and check --device before any work."""
    import torch

    if args.threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for but torch sees no CUDA device")


def write_json_atomic(path: Path, data: Any, indent: int | None = None) -> None:
    """Write ``data`` as JSON to ``path`` through ``<path>.tmp`` and a rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(data, indent=indent))
    os.replace(tmp, path)


@dataclass
class Benchmark:
    """Collects rows and writes the JSON/table/plot of one benchmark run."""

    name: str
    model: str
    device: str = "cpu"
    quick: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(
        self,
        method: str,
        metric: str,
        value: float,
        *,
        baseline: str | None = None,
        baseline_value: float | None = None,
        spread: float | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """One row; ``ratio`` is ``value / baseline_value`` when a baseline was measured in this run."""
        value = float(value)
        ratio = None
        if baseline_value is not None:
            baseline_value = float(baseline_value)
            ratio = value / baseline_value if baseline_value != 0 else None
        row = {
            "method": method,
            "metric": metric,
            "value": value,
            "baseline": baseline,
            "baseline_value": baseline_value,
            "ratio": ratio,
        }
        if spread is not None:
            row["spread"] = float(spread)
        row.update(extra)
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        """A line printed under the table and stored in the JSON (e.g. why a peer library was not run)."""
        self.notes.append(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "model": self.model,
            "hardware": hardware(),
            "threads": threads(),
            "device": self.device,
            "quick": self.quick,
            "python": sys.version.split()[0],
            "versions": _versions(),
            "seconds": round(time.time() - self.started, 1),
            "notes": self.notes,
            "rows": self.rows,
        }

    def table(self) -> str:
        cols = ("method", "metric", "value", "baseline", "baseline_value", "ratio")
        cells = [[_fmt(r.get(c)) for c in cols] for r in self.rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(cols)]
        line = " | ".join(c.ljust(w) for c, w in zip(cols, widths))
        out = [f"# {self.name} on {self.model} ({hardware()}, {threads()} threads, device {self.device})", line]
        out.append("-+-".join("-" * w for w in widths))
        out += [" | ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)

    def finish(self, json_path: Path | None = None) -> dict[str, Any]:
        """Print the table and write the JSON (atomically) when a path is given."""
        data = self.to_dict()
        print(self.table())
        if json_path is not None:
            json_path = Path(json_path)
            write_json_atomic(json_path, data, indent=1)
            print(f"wrote {json_path}")
        return data


class PartialRun:
    """Finished units (arms) of a long benchmark run, kept in ``<json>.partial`` so that the same command, stopped
    part-way, resumes without measuring them again.

    ``key`` holds everything the results depend on (settings, a digest of the data); a file written under another
    key is refused with a ``ValueError`` (delete it to start over). Each :meth:`put` rewrites the file atomically;
    :meth:`finish` deletes it once the result JSON is written. Without a path (no ``--json``) nothing is kept.
    """

    def __init__(self, json_path: Path | None, key: dict[str, Any]) -> None:
        self.path = Path(f"{json_path}.partial") if json_path is not None else None
        self.key = json.loads(json.dumps(key))  # as it will read back from disk
        self.units: dict[str, Any] = {}
        if self.path is not None and self.path.exists():
            saved = self.unpack(json.loads(self.path.read_text()))
            if saved is None:
                raise ValueError(f"{self.path} is not a partial-run file (keys 'key' and 'units'): delete it")
            key, self.units = saved
            if key != self.key:
                raise ValueError(
                    f"{self.path} was written by a run with other settings ({key} != {self.key}): "
                    "delete it to start over, or rerun with its settings"
                )

    @staticmethod
    def unpack(data: Any) -> tuple[Any, dict[str, Any]] | None:
        """The key and finished units if ``data`` (a JSON file's content) is what :meth:`put` writes (e.g. a run
        still going), else ``None`` (a finished result)."""
        if not (isinstance(data, dict) and set(data) == {"key", "units"}):
            return None
        return data["key"], data["units"]

    def get(self, name: str) -> Any:
        """The saved result of unit ``name``, or ``None``."""
        return self.units.get(name)

    def put(self, name: str, result: Any) -> None:
        self.units[name] = result
        if self.path is not None:
            write_json_atomic(self.path, {"key": self.key, "units": self.units})

    def finish(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def json_digest(value: Any) -> str:
    """SHA-256 of ``json.dumps(value)`` (texts, settings): a short name for benchmark data or a cache entry."""
    import hashlib

    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]


def digest(*tensors: Any) -> str:
    """SHA-256 of the shapes, dtypes and bytes of ``tensors`` (torch tensors): a short name for benchmark data."""
    import hashlib

    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "trl", "hf-tokens"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def plot_lines(
    path: Path,
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    baseline: float | None = None,
) -> None:
    """Save a line plot (one line per series name) to ``path``; needs matplotlib (``pip install hf-tokens[bench]``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", label=name)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", label="baseline")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
