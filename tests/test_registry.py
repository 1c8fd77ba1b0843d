from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hf_tokens import registry
from hf_tokens.registry import EXTENSION_POINTS, STATUSES, UnknownMethodError, all_specs, get
from hf_tokens.results import Headline, HeadlineError, results_dir

ROOT = Path(__file__).resolve().parents[1]


def test_52_unique_methods_in_papers_order():
    specs = all_specs()
    assert len(specs) == 52
    assert len({s.id for s in specs}) == 52
    assert specs[0].id == "high-entropy-minority" and specs[-1].id == "rsq"
    for s in specs:
        assert s.extension in EXTENSION_POINTS and s.status in STATUSES and s.title and s.summary
        assert s.arxiv and len(s.arxiv.split(".")) == 2, s.id
        assert s.module_name.isidentifier()


def test_unknown_id_is_a_clear_error():
    with pytest.raises(UnknownMethodError, match="hf-tokens list"):
        get("no-such-method")
    with pytest.raises(UnknownMethodError, match="did you mean 'token-recycling'"):
        get("token_recycling")
    with pytest.raises(TypeError):
        get(7)


def test_register_validates_and_is_reversible(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", dict(registry._REGISTERED))
    with pytest.raises(UnknownMethodError):
        registry.register("nope", entry="a:b")
    with pytest.raises(ValueError, match="status"):
        registry.register("rsq", status="done", entry="a:b")
    with pytest.raises(ValueError, match="needs entry"):
        registry.register("rsq")
    with pytest.raises(ValueError, match="module:Name"):
        registry.register("rsq", entry="no_colon")
    spec = registry.register("rsq", entry="hf_tokens.registry:get", contract="hf_tokens.registry:all_specs")
    assert get("rsq") is spec and spec.implemented and spec.load() is get
    with pytest.raises(ValueError):
        spec.load("weights")


def test_filters():
    assert all(s.extension == "cache" for s in all_specs(extension="cache"))
    assert {s.id for s in all_specs(extension="cache")} >= {"h2o", "ems", "tokenselect", "tidaldecode"}
    assert all(s.status == "planned" for s in all_specs(status="planned"))


def test_import_is_light():
    code = (
        "import sys, time; import transformers; t=time.perf_counter(); import hf_tokens; "
        "hf_tokens.registry.all_specs(); dt=time.perf_counter()-t; "
        "bad=[m for m in ('trl','triton','torch','peft') if m in sys.modules]; print(dt, bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    seconds, heavy = float(out[0]), " ".join(out[1:])
    assert heavy == "[]", f"import hf_tokens + registry discovery imported {heavy}"
    assert seconds < 2.0


def test_lazy_public_names():
    import hf_tokens

    assert hf_tokens.get_method("h2o").id == "h2o"
    with pytest.raises(AttributeError):
        hf_tokens.DefinitelyNotAThing


# ---- headlines: references to committed result rows ---------------------------------------------------------------


def _results(tmp_path, rows, name="r.json", **meta):
    folder = tmp_path / "bench_results"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps({"benchmark": "x", "hardware": "cpu", "threads": 1, **meta, "rows": rows}))
    return folder


ROWS = [
    {"method": "m", "metric": "tokens/s", "value": 20.0, "baseline": "plain", "baseline_value": 16.0, "ratio": 1.25},
    {"method": "m", "metric": "acc", "value": 0.2604, "ci95": [0.052, 0.1875], "baseline": None, "ratio": None},
    {"method": "dup", "metric": "x", "value": 1.0},
    {"method": "dup", "metric": "x", "value": 2.0},
]


def test_headline_renders_rows_fields_and_views(tmp_path):
    root = _results(tmp_path, ROWS)
    _results(tmp_path, [{"method": "o", "metric": "ppl", "value": 3.0, "ratio": 1.1}], name="other.json")
    h = Headline(
        "{t.ratio:.2f}x ({t.value:.1f} vs {t.baseline_value:.0f} tokens/s, {t.inverse:.1f}x, {t.change:+.0%}); "
        "acc {a.value:.1%} [{a.pct.ci95[0]:.1f}, {a.pct.ci95[1]:.1f}]; {o.ratio:.1f} on {t.hardware}, "
        "{t.threads} thread",
        file="bench_results/r.json",
        rows={
            "t": {"method": "m", "metric": "tokens/s"},
            "a": {"method": "m", "metric": "acc"},
            "o": {"file": "bench_results/other.json", "method": "o"},
        },
    )
    assert h.files() == ["bench_results/r.json", "bench_results/other.json"]
    assert h.render(root) == "1.25x (20.0 vs 16 tokens/s, 0.8x, +25%); acc 26.0% [5.2, 18.8]; 1.1 on cpu, 1 thread"
    assert h.resolve(root)["t"].as_dict()["baseline"] == "plain"


@pytest.mark.parametrize(
    ("rows", "text", "match"),
    [
        ({"d": {"method": "dup", "metric": "x"}}, "{d.value}", "2 rows match"),
        ({"d": {"method": "nope"}}, "{d.value}", "no row match"),
        ({"d": {"method": "m", "metric": "acc"}}, "{d.ratio:.2f}", "does not fit its format"),
        ({"d": {"method": "m", "metric": "acc"}}, "{d.nothing}", "has no field 'nothing'"),
        ({"d": {"file": "bench_results/missing.json", "method": "m"}}, "{d.value}", "is not committed"),
    ],
)
def test_headline_that_the_results_do_not_support_fails_to_render(tmp_path, rows, text, match):
    root = _results(tmp_path, ROWS)
    h = Headline(text, file="bench_results/r.json", rows=rows)
    with pytest.raises(HeadlineError, match=match):
        h.render(root)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text": "{x.value}", "rows": {"a": {"method": "m"}}}, "'x' is not one of"),
        ({"text": "{a.value} {b.value}", "rows": {"a": {"method": "m"}}}, "'b' is not one of"),
        ({"text": "{a.value}", "rows": {"a": {"method": "m"}, "b": {"method": "n"}}}, "not used"),
        ({"text": "1.41x greedy", "rows": {"a": {"method": "m"}}}, "not used"),
        ({"text": "{a.value:.2q}", "rows": {"a": {"method": "m"}}}, "not a valid format"),
        ({"text": "{a.value", "rows": {"a": {"method": "m"}}}, "not a valid format"),
        ({"text": "{a.value}", "rows": {"a": {}}}, "non-empty dict"),
        ({"text": "{a.value}", "rows": {"a": {"method": ["m"]}}}, "non-empty dict"),
        ({"text": "{a.value}", "rows": {}}, "at least one alias"),
        ({"text": "{a.value}", "rows": {"a": {"method": "m"}}, "file": "results/r.json"}, "bench_results/"),
        ({"text": "{a.value}", "rows": {"a": {"method": "m"}}, "file": "bench_results/../x.json"}, "inside"),
        ({"text": "{a.value}", "rows": {"a": {"method": "m"}}, "file": None}, "no file"),
    ],
)
def test_headline_syntax_is_checked_when_built(kwargs, match):
    kwargs.setdefault("file", "bench_results/r.json")
    with pytest.raises(ValueError, match=match):
        Headline(**kwargs)


def test_headline_over_a_broken_result_file_fails_to_render(tmp_path):
    root = _results(tmp_path, ROWS)
    h = Headline("{a.value}", file="bench_results/r.json", rows={"a": {"method": "m", "metric": "acc"}})
    (root / "r.json").write_text("{not json")
    with pytest.raises(HeadlineError, match="not valid JSON"):
        h.render(root)
    (root / "r.json").write_text('{"rows": 3}')
    with pytest.raises(HeadlineError, match="no 'rows' list"):
        h.render(root)


def test_register_refuses_a_headline_of_the_wrong_type(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", dict(registry._REGISTERED))
    with pytest.raises(TypeError, match="Headline"):
        registry.register("rsq", entry="a:b", headline={"text": "1.2x"})


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.id) for s in all_specs(implemented=True)])
def test_every_implemented_headline_renders_from_a_committed_result(spec):
    """Fails while a headline's result file is not committed, or when its rows are missing or ambiguous."""
    assert isinstance(spec.headline, Headline), f"{spec.id}: the headline must reference result rows (Headline)"
    for file in spec.headline.files():
        assert (ROOT / file).is_file(), f"{spec.id}: {file} is not committed (produce it with: {spec.benchmark})"
        if (ROOT / ".git").exists():  # a file lying in the tree is not enough: it must be in git
            tracked = subprocess.run(["git", "ls-files", "--error-unmatch", file], cwd=ROOT, capture_output=True)
            assert tracked.returncode == 0, f"{spec.id}: {file} exists but is not added to git"
    assert results_dir() == ROOT / "bench_results"
    assert spec.headline_text()


def test_bench_results_stay_small():
    """bench_results/ is committed: per-prompt logs are kept small or gzip-compressed."""
    big = [p.name for p in (ROOT / "bench_results").iterdir() if p.is_file() and p.stat().st_size > 256 * 1024]
    assert not big, f"result files over 256 KB (compress per-prompt JSONL with gzip): {big}"
