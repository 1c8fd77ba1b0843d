"""Statistics, summary table, plot and ``--rescore`` of ``benchmarks/speculative.py``: per-prompt speed-up ratios
summarised by their median over prompts with a 95% bootstrap interval (prompts resampled within each kind)."""

from __future__ import annotations

import random
import statistics
from pathlib import Path
from typing import Any

from hf_tokens.benchmarking import Benchmark

BASELINE = "greedy generate"
STEP_COST = "step cost (greedy tokens)"
STEP_COST_NOTE = (
    "summed method seconds per target forward after the prompt's / summed greedy seconds per new token after the "
    "first (draft forwards included, prefill shared out over the steps): speed-up of the summed times = "
    "tokens/step / step cost"
)
SAME = "speed-up vs greedy, same kernel"
VS_STOCK = "speed-up vs greedy [stock]"


def median_ci(values: list[float], kinds: list[str], reps: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the median over prompts: prompts are resampled within each kind when
    every kind has at least 2 (the design is balanced by kind), else over all prompts."""
    rng = random.Random(seed)
    groups: dict[str, list[float]] = {}
    for v, k in zip(values, kinds):
        groups.setdefault(k, []).append(v)
    if min(len(g) for g in groups.values()) < 2:
        groups = {"all": list(values)}
    medians = []
    for _ in range(reps):
        sample = [g[rng.randrange(len(g))] for g in groups.values() for _ in g]
        medians.append(statistics.median(sample))
    medians.sort()
    return medians[int(0.025 * reps)], medians[int(0.975 * reps) - 1]


def paired_ratios(num: dict[int, float], den: dict[int, float]) -> float:
    """Median over the repetitions both sides ran of num / den (seconds: > 1 means ``den`` is faster)."""
    return statistics.median(num[r] / den[r] for r in den if r in num)


def ratio_stats(per_prompt: list[list[Any]]) -> dict[str, Any]:
    """Median over prompts with its 95% interval, mean, spread and per-kind medians, from ``per_prompt`` entries
    ``[prompt index, kind, ratio]``."""
    kinds = [k for _, k, _ in per_prompt]
    ratios = [float(r) for _, _, r in per_prompt]
    low, high = median_ci(ratios, kinds)
    per_kind = {}
    for kind in dict.fromkeys(kinds):
        sub = [r for r, k in zip(ratios, kinds) if k == kind]
        per_kind[kind] = {"median": round(statistics.median(sub), 4), "n": len(sub), "min": round(min(sub), 4)}
        per_kind[kind]["max"] = round(max(sub), 4)
    return {
        "value": statistics.median(ratios),
        "ci95": [round(low, 4), round(high, 4)],
        "n": len(ratios),
        "mean": round(statistics.fmean(ratios), 4),
        "min": round(min(ratios), 4),
        "max": round(max(ratios), 4),
        "faster_on": f"{sum(r > 1 for r in ratios)}/{len(ratios)} prompts",
        "per_kind": per_kind,
    }


def summarise(
    bench: Benchmark, name: str, metric: str, ratios: list[float], kinds: list[str], index: list[int], **extra: Any
) -> dict[str, Any]:
    """One row of :func:`ratio_stats` with every prompt's ratio (``per_prompt``: ``[prompt index, kind, ratio]``)."""
    per_prompt = [[p, k, round(r, 4)] for p, k, r in zip(index, kinds, ratios)]
    stats = ratio_stats(per_prompt)
    return bench.add(name, metric, stats.pop("value"), **stats, per_prompt=per_prompt, **extra)


def rescore(path: Path, plot_path: Path | None) -> None:
    """Recompute every row's statistics from its ``per_prompt`` ratios (e.g. after a fix to :func:`ratio_stats`)
    and redraw the plot; the measured ratios themselves are not touched."""
    import json
    import os

    data = json.loads(Path(path).read_text())
    for row in data["rows"]:
        if "per_prompt" in row:
            row.update(ratio_stats(row["per_prompt"]))
    data["notes"].append("statistics recomputed from the per-prompt ratios by `benchmarks/speculative.py --rescore`")
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
    print(f"rescored {path}")
    print_summary(summary_table(data["rows"]))
    if plot_path:
        plot(plot_path, summary_table(data["rows"]), title(data))


def summary_table(rows: list[dict[str, Any]]) -> list[tuple[str, dict, float]]:
    """(label, row, tokens/step) of every method's same-kernel speed-up, and of oneDNN greedy vs stock greedy."""
    per_step = {r["method"]: r["value"] for r in rows if r["metric"] == "tokens/step"}
    return [
        (r["method"] + (" vs stock" if r["metric"] == VS_STOCK else ""), r, per_step[r["method"]])
        for r in rows
        if r["metric"] == SAME or (r["metric"] == VS_STOCK and r["method"] == f"{BASELINE} [oneDNN]")
    ]


def title(data: dict[str, Any]) -> str:
    return f"{data['model']}, {data['threads']} thread(s), {data['device']}"


def print_summary(table: list[tuple[str, dict, float]]) -> None:
    print(f"\n{'method [kernel]':48} {'median x greedy [95% CI]':26} {'min-max':12} tok/step  median per kind (n)")
    for name, row, per_step in table:
        ci = f"{row['value']:.2f} [{row['ci95'][0]:.2f}, {row['ci95'][1]:.2f}]"
        spread = f"{row['min']:.2f}-{row['max']:.2f}"
        cells = "  ".join(f"{k} {v['median']:.2f} ({v['n']})" for k, v in row["per_kind"].items())
        print(f"{name:48} {ci:26} {spread:12} {per_step:7.2f}  {cells}")


def plot(path: Path, table: list[tuple[str, dict, float]], title: str) -> None:
    """Every prompt's speed-up (dots, coloured by kind) and the median with its 95% interval, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = dict.fromkeys(k for _, row, _ in table for _, k, _ in row["per_prompt"])
    colours = dict(zip(kinds, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.5), dpi=120)
    for y, (_, row, _) in enumerate(table):
        for i, (_, kind, ratio) in enumerate(row["per_prompt"]):
            ax.scatter(ratio, y + 0.3 * ((i % 7) - 3) / 3, s=10, color=colours[kind], alpha=0.8)
        low, high = row["ci95"]
        xerr = [[max(0.0, row["value"] - low)], [max(0.0, high - row["value"])]]
        ax.errorbar(row["value"], y, xerr=xerr, fmt="k|", ms=14, capsize=3)
    ax.axvline(1.0, color="grey", linestyle="--")
    ax.set_xscale("log")
    ax.set_yticks(range(len(table)), [t[0] for t in table], fontsize=7)
    ax.set_xlabel("speed-up vs plain greedy generate on the same kernel (per prompt; bar: median, 95% CI)")
    for k, c in colours.items():
        ax.scatter([], [], color=c, label=k, s=12)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
