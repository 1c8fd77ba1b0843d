from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hf_tokens.benchmarking import (
    Benchmark,
    PartialRun,
    digest,
    json_digest,
    measure,
    paired_bootstrap,
    paired_log_ratio,
)

ROOT = Path(__file__).resolve().parents[1]


def test_measure_reports_median_and_spread():
    seq = iter([0.0] * 10)
    m = measure(lambda: next(seq), repeats=3, warmup=1)
    assert len(m.values) == 3 and m.median >= 0 and m.spread >= 0
    with pytest.raises(ValueError):
        measure(lambda: None, repeats=0)


def test_paired_bootstrap_interval():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.5, 1.5, 2.5, 3.5]
    assert paired_bootstrap(a, b, reps=200) == (0.5, 0.5)  # constant paired difference: a point interval
    lo, hi = paired_bootstrap([1.0, 0.0, 1.0, 0.0, 1.0], [0.0] * 5, reps=2000)
    assert 0.0 <= lo < 0.6 < hi <= 1.0  # the mean difference 0.6 lies inside, bounded by the extreme resamples
    with pytest.raises(ValueError, match="equal length"):
        paired_bootstrap([1.0], [1.0, 2.0])


def test_paired_log_ratio_is_the_geometric_mean_ratio_with_exponentiated_bounds():
    import math

    a, b = [math.log(2.0), math.log(3.0), math.log(5.0)], [math.log(1.0), math.log(1.5), math.log(4.0)]
    ratio, low, high = paired_log_ratio(a, b, reps=500)
    assert ratio == pytest.approx((2.0 * 2.0 * 1.25) ** (1 / 3))
    assert (low, high) == pytest.approx(tuple(math.exp(x) for x in paired_bootstrap(a, b, reps=500)))
    assert 1.25 <= low <= ratio <= high <= 2.0


def _bench_module(monkeypatch, name):
    """A script under benchmarks/ imported as a module (its sibling helpers importable)."""
    import importlib.util

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(f"{name}_bench", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dynamic_tokenization_ratio_rows_are_geometric_means_with_paired_intervals(monkeypatch):
    import math

    module = _bench_module(monkeypatch, "dynamic_tokenization")
    bench = Benchmark("demo", "tiny")
    logs = [math.log(1.1), math.log(1.3), math.log(1.0), math.log(1.2)]
    module.add_ratio_interval(bench, "prefill-zett:merges=1", logs, [0.0] * 4)
    module.add_ratio_interval(bench, "zett-vs-mean:merges=1", logs, logs)
    row, same = bench.rows
    assert row["value"] == pytest.approx((1.1 * 1.3 * 1.0 * 1.2) ** 0.25) and row["n_texts"] == 4
    assert 1.0 <= row["ci_low"] < row["value"] < row["ci_high"] <= 1.3  # inside the extreme resamples
    assert same["value"] == same["ci_low"] == same["ci_high"] == 1.0  # identical arms: a point interval at 1


def test_ead_shards_merge_into_the_rows_of_one_run(monkeypatch, tmp_path):
    import argparse

    module = _bench_module(monkeypatch, "generation2")
    arms = ["large only", "small only", "ead t=1", "assisted (0.5B draft)"]
    settings = {"seed": 0, "max_new_tokens": 8, "window": 4, "prompt": "answer", "arms": arms}

    def record(i):
        arm = lambda score, seconds, large: {  # noqa: E731
            "score": score,
            "agree": 1.0,
            "seconds": seconds,
            "new": 4,
            "large_tokens": large,
            "compute": 10.0 * large,
        }
        return {
            "index": i,
            "answer": str(i),
            "arms": {
                "large only": arm(1.0, 2.0, 4),
                "small only": arm(float(i % 2), 1.0, 0),
                "ead t=1": arm(1.0 if i else 0.0, 1.5 + i, 2),
                "assisted (0.5B draft)": arm(1.0, 3.0, 4),
            },
        }

    for k in (0, 1):
        (tmp_path / f"s{k}.json").write_text(json.dumps({"settings": settings, "records": [record(k), record(k + 2)]}))
    records, seconds = module.merge_shards([tmp_path / "s1.json", tmp_path / "s0.json"], settings, 4)
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    assert seconds == [2 * (2.0 + 3.0) + 1.0 + 1.0 + 2.5 + 4.5, 2 * (2.0 + 3.0) + 1.0 + 1.0 + 1.5 + 3.5]
    first, _ = module.merge_shards([tmp_path / "s1.json", tmp_path / "s0.json"], settings, 3)
    assert [r["index"] for r in first] == [0, 1, 2]  # shards of a run cut short: its first problems
    with pytest.raises(ValueError, match=r"lack problems \[1, 3\]"):
        module.merge_shards([tmp_path / "s0.json"], settings, 4)
    bench = Benchmark("generation2-ead", "tiny")
    module.ead_rows(bench, records, arms)
    rows = {(r["method"], r["metric"]): r for r in bench.rows}
    acc = rows["ead t=1", "accuracy"]
    assert acc["value"] == 0.75 and acc["ratio"] == 0.75 and acc["problems"] == 4
    assert -1.0 <= acc["diff_ci_low"] <= -0.25 <= acc["diff_ci_high"] <= 0.0
    assert rows["ead t=1", "large-model token share"]["value"] == 0.5
    assert rows["ead t=1", "seconds"]["ratio"] == pytest.approx((1.5 + 2.5 + 3.5 + 4.5) / 8.0)
    assert rows["ead t=1", "estimated compute"]["value"] == 0.5
    assert rows["small only", "accuracy"]["value"] == 0.5
    timing = rows["large only", "per_problem_time_vs_assisted"]
    assert timing["value"] == timing["ci_low"] == timing["ci_high"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="overlap"):
        module.merge_shards([tmp_path / "s0.json", tmp_path / "s0.json"], settings, 4)
    running = PartialRun(tmp_path / "s1-running.json", settings)  # shard 1 still running: its problem 1 is done
    running.put("1", record(1))
    merged, spent = module.merge_shards([tmp_path / "s0.json", running.path], settings, 3)
    assert [r["index"] for r in merged] == [0, 1, 2] and spent == [17.0, 2.0 + 1.0 + 2.5 + 3.0]
    other = PartialRun(tmp_path / "w.json", {**settings, "window": 2})
    other.put("0", record(0))
    with pytest.raises(ValueError, match="other settings"):
        module.merge_shards([other.path], settings, 1)
    with pytest.raises(ValueError, match="other settings"):
        module.merge_shards([tmp_path / "s0.json"], {**settings, "window": 2}, 4)
    assert module.parse_shard("1/3") == (1, 3)
    with pytest.raises(argparse.ArgumentTypeError, match="--shard"):
        module.parse_shard("3/3")


def test_json_schema_and_ratio(tmp_path):
    b = Benchmark("demo", "tiny")
    b.add("base", "tokens/s", 10.0, baseline="base", baseline_value=10.0)
    row = b.add("ours", "tokens/s", 15.0, baseline="base", baseline_value=10.0, spread=0.5)
    assert row["ratio"] == 1.5
    b.note("shared machine")
    data = b.finish(tmp_path / "r.json")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved == json.loads(json.dumps(data))
    assert {"benchmark", "model", "hardware", "threads", "rows"} <= set(saved)
    assert set(saved["rows"][0]) >= {"method", "metric", "value", "baseline", "baseline_value", "ratio"}


def test_every_benchmark_script_takes_quick_and_json():
    # one script per method family; _*.py are helper modules shared by scripts, *_worker.py run inside a script,
    # *_pool.py combine the JSON of earlier runs and measure nothing
    scripts = sorted(
        p
        for p in (ROOT / "benchmarks").glob("*.py")
        if not p.name.startswith("_") and "worker" not in p.name and not p.name.endswith("_pool.py")
    )
    assert scripts
    for script in scripts:
        out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{script.name}: {out.stderr[-1000:]}"
        assert "--quick" in out.stdout and "--json" in out.stdout, script.name


@pytest.mark.slow
def test_decoding_benchmark_quick(tmp_path, smollm2):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "decoding.py"),
            "--quick",
            "--repeats",
            "1",
            "--new-tokens",
            "8",
            "--json",
            str(tmp_path / "d.json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["benchmark"] == "decoding" and data["threads"] == 1
    static = next(r for r in data["rows"] if r["method"] == "greedy + StaticCache")
    assert static["ratio"] == pytest.approx(static["value"] / static["baseline_value"])


def _kv_run(path: Path, full: list[float], h2o: list[float], press: list[float]) -> Path:
    def row(method, ppl, budget):
        return {"method": method, "metric": "ppl", "value": 0.0, "budget": budget, "text_ppl": ppl}

    def peak(method, budget):
        return {"method": method, "metric": "peak_mib", "value": 1.0, "budget": budget}

    rows = [row("full", full, 1.0), peak("full", 1.0)]
    for name, ppl in (("h2o@20%", h2o), ("kvpress:SnapKV+decoding@20%", press)):
        rows += [row(name, ppl, 0.2), peak(name, 0.2)]
    path.write_text(json.dumps({"rows": rows}))
    return path


def test_kv_cache_pool_counts_repeated_texts_once(tmp_path):
    a = _kv_run(tmp_path / "a.json", [10.0, 20.0], [11.0, 22.0], [12.0, 21.0])
    b = _kv_run(tmp_path / "b.json", [20.0, 40.0], [22.0, 48.0], [21.0, 44.0])  # its first text is a's second
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "kv_cache_pool.py"), str(a), str(b), "--json", str(tmp_path / "p")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads((tmp_path / "p").read_text())
    ratio = {r["method"]: r["ratio"] for r in data["rows"] if r["metric"] == "ppl"}
    # 3 distinct texts: h2o ratios 1.1, 1.1, 1.2 -> geometric mean; the repeated text is counted once
    assert ratio["h2o@20%"] == pytest.approx((1.1 * 1.1 * 1.2) ** (1 / 3))
    # per corpus (runs without text_corpus drew jargon, licenses, ... in turn): jargon 1.1, licenses (1.1, 1.2)
    corpus = {
        r["corpus"]: r["ratio"] for r in data["rows"] if r["method"] == "h2o@20%" and r["metric"] == "corpus_ppl"
    }
    assert corpus == pytest.approx({"jargon": 1.1, "licenses": (1.1 * 1.2) ** 0.5})
    worst = next(r for r in data["rows"] if r["method"] == "h2o@20%" and r["metric"] == "worst_corpus_ppl")
    assert worst["corpus"] == "licenses" and worst["ratio"] == pytest.approx((1.1 * 1.2) ** 0.5)
    assert any("3 distinct texts" in n and "1 text(s)" in n for n in data["notes"])
    assert any("H2O@20% <= best kvpress press at 20% of the bytes" in n and "NOT met" in n for n in data["notes"])


def test_partial_run_resumes_and_refuses_other_settings(tmp_path):
    out = tmp_path / "r.json"
    first = PartialRun(out, {"seed": 0, "model": "m"})
    assert first.get("rsq") is None
    first.put("rsq", {"ppl": 1.5})
    assert (tmp_path / "r.json.partial").exists() and not (tmp_path / "r.json.partial.tmp").exists()
    again = PartialRun(out, {"model": "m", "seed": 0})  # the same key, read back from disk
    assert again.get("rsq") == {"ppl": 1.5} and again.get("gptq") is None
    with pytest.raises(ValueError, match="other settings"):
        PartialRun(out, {"seed": 1, "model": "m"})
    again.finish()
    assert not (tmp_path / "r.json.partial").exists()
    assert PartialRun(out, {"seed": 1, "model": "m"}).get("rsq") is None  # a fresh start after finish


def test_partial_run_without_json_keeps_nothing_on_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = PartialRun(None, {"seed": 0})
    run.put("a", 1)
    assert run.get("a") == 1 and list(tmp_path.iterdir()) == []
    run.finish()


def test_digest_names_the_data():
    import torch

    a = torch.arange(6).view(2, 3)
    assert digest(a) == digest(a.clone()) and len(digest(a)) == 16
    assert digest(a) != digest(a.view(3, 2))  # same bytes, other shape
    assert digest(a) != digest(a.float())
    assert digest(a) != digest(a + (a == 5).long())


def test_json_digest_names_texts_and_settings():
    key = json_digest([["a text", "another"], {"batch": 8}])
    assert key == json_digest([["a text", "another"], {"batch": 8}]) and len(key) == 16
    assert key != json_digest([["a text", "another"], {"batch": 4}])
    assert key != json_digest([["another", "a text"], {"batch": 8}])  # order matters: rows are paired by position


def test_mean_t_interval_uses_student_t_quantiles():
    from hf_tokens.benchmarking import mean_t_interval

    assert mean_t_interval([0.5]) == (0.5, 0.5, 0.5)
    # n = 3: mean 2, sd 1, t(2) = 4.303 -> half-width 4.303 / sqrt(3)
    mean, lo, hi = mean_t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and hi - mean == pytest.approx(4.303 / 3**0.5) and mean - lo == pytest.approx(hi - mean)


def test_summarise_seeds_pairs_each_run_with_its_own_baseline(tmp_path):
    from hf_tokens.benchmarking import summarise_seeds

    def run(path, acc, base, n):
        rows = [
            {"method": "ours", "metric": "acc", "value": acc, "baseline": "base", "baseline_value": base, "n": n},
            {"method": "ours", "metric": "speed", "value": 2 * acc, "baseline": None, "baseline_value": None, "n": 5},
            {"method": "ours", "metric": "broken", "value": None},
        ]
        path.write_text(json.dumps({"rows": rows}))
        return path

    files = [run(tmp_path / f"s{i}.json", a, b, 200) for i, (a, b) in enumerate([(0.5, 0.4), (0.6, 0.7), (0.7, 0.4)])]
    rows = {r["metric"]: r for r in summarise_seeds(files, "x_seeds", "tiny", suffix="_s").rows}
    assert set(rows) == {"acc_s", "speed_s"}  # a row without a number in every file is left out
    acc = rows["acc_s"]
    assert acc["value"] == pytest.approx(0.6) and acc["baseline_value"] == pytest.approx(0.5)
    assert acc["per_seed"] == [0.5, 0.6, 0.7] and acc["baseline_per_seed"] == [0.4, 0.7, 0.4]
    assert acc["ahead"] == 2 and acc["n_seeds"] == 3 and acc["n"] == 200
    # differences 0.1, -0.1, 0.3: mean 0.1, sd 0.2, t(2) = 4.303
    assert acc["diff_mean"] == pytest.approx(0.1)
    assert acc["diff_ci95"][1] - 0.1 == pytest.approx(4.303 * 0.2 / 3**0.5)
    assert acc["ci95"][1] - 0.6 == pytest.approx(4.303 * 0.1 / 3**0.5)
    assert "diff_mean" not in rows["speed_s"] and rows["speed_s"]["baseline_value"] is None
    kept = summarise_seeds(files, "x", "tiny", keep=lambda r: r["metric"] == "speed").rows
    assert [r["metric"] for r in kept] == ["speed"]
    run(tmp_path / "s1.json", 0.6, 0.7, 100)  # a numeric field that differs between runs: its mean
    first = summarise_seeds(files, "x", "tiny").rows[0]
    assert first["n"] == pytest.approx(500 / 3) and first["n_per_seed"] == [200, 100, 200]
    with pytest.raises(ValueError, match="paths: 2 to 10"):
        summarise_seeds(files[:1], "x", "tiny")
    with pytest.raises(ValueError, match=r"missing\.json is not a readable"):
        summarise_seeds([files[0], tmp_path / "missing.json"], "x", "tiny")
    (tmp_path / "other.json").write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match=r"other\.json is not a readable"):
        summarise_seeds([files[0], tmp_path / "other.json"], "x", "tiny")
