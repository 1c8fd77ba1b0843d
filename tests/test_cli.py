from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from hf_tokens import registry
from hf_tokens.cli import main
from hf_tokens.readme import END, START, methods_table, update_readme
from hf_tokens.registry import all_specs
from hf_tokens.results import Headline, HeadlineError

ROOT = Path(__file__).resolve().parents[1]


def test_list_json_has_52(capsys):
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 52 and {"id", "extension", "status", "arxiv", "title"} <= set(data[0])


def test_list_table_and_filters(capsys):
    assert main(["list", "--extension", "cache"]) == 0
    out = capsys.readouterr().out
    assert "h2o" in out and "zett" not in out
    assert main(["list", "--extension", "nope"]) == 2
    assert "--extension must be one of" in capsys.readouterr().err


def test_info_and_unknown_id(capsys):
    assert main(["info", "zett", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["arxiv"] == "2405.07883"
    assert main(["info", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown method id 'nope'" in err


def test_card_for_every_id(capsys, tmp_path):
    for spec in all_specs():
        assert main(["card", spec.id]) == 0
        assert spec.title in capsys.readouterr().out
    assert main(["card", "h2o", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "README.md").read_text().startswith("---")


def _planned_id():
    return next(s.id for s in all_specs() if s.status == "planned")


def test_card_of_a_planned_method_says_planned(capsys):
    assert main(["card", _planned_id()]) == 0
    out = capsys.readouterr().out
    assert "is **planned** in `hf_tokens`" in out and "This artefact implements" not in out
    assert "How to use" not in out and "from_pretrained" not in out and "implementation is" not in out
    assert main(["card", "h2o"]) == 0
    out = capsys.readouterr().out
    assert "This artefact implements" in out and "planned" not in out
    assert "How to use" in out and "implementation is hf_tokens' own" in out


def test_card_kind_refuses_what_the_method_cannot_export(capsys):
    assert main(["card", "h2o", "--kind", "custom_generate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exports only model artefacts; kind 'custom_generate'" in err
    assert main(["card", "token-recycling", "--kind", "tokenizer"]) == 2
    assert main(["card", _planned_id(), "--kind", "kernel"]) == 2
    assert "planned" in capsys.readouterr().err
    for spec in all_specs(implemented=True):
        for kind in spec.card_kinds:
            assert main(["card", spec.id, "--kind", kind]) == 0, (spec.id, kind)
    capsys.readouterr()


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_demos_cli_and_examples_never_import_the_test_fixtures():
    """`hf-tokens run` and the examples run on the user's model and tokenizer, never on hf_tokens.testing's."""
    files = [ROOT / "hf_tokens" / "demo.py", ROOT / "hf_tokens" / "cli.py", *sorted((ROOT / "examples").glob("*.py"))]
    for spec in all_specs(implemented=True):
        for target in (spec.demo, spec.run_kwargs):
            if target:
                files.append(Path(inspect.getsourcefile(importlib.import_module(target.partition(":")[0]))))
    assert len(files) > 8
    for path in files:
        assert "hf_tokens.testing" not in _imported_modules(path), f"{path} imports the test fixtures"


def test_run_rejects_planned_and_unknown_before_loading(capsys):
    from hf_tokens.registry import all_specs

    planned = next((s.id for s in all_specs() if not s.implemented), None)
    if planned is None:
        pytest.skip("every method is implemented: no planned one to reject")
    assert main(["run", "--method", planned]) == 2
    assert "planned" in capsys.readouterr().err
    assert main(["run", "--method", "nope"]) == 2


def test_run_plain_generation_on_the_bundled_model(smollm2):
    out = subprocess.run(
        [sys.executable, "-m", "hf_tokens.cli", "run", "--max-new-tokens", "12"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "The capital of France is Paris." in out.stdout and "tokens/s" in out.stdout


def test_console_script_is_installed():
    out = subprocess.run([Path(sys.executable).parent / "hf-tokens", "list"], capture_output=True, text=True)
    assert out.returncode == 0 and "52 methods" in out.stdout


def test_readme_table_is_current():
    assert not update_readme(ROOT / "README.md", check=True), "run `hf-tokens readme` and commit README.md"


def test_readme_update(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"intro\n{START}\nold\n{END}\nrest\n")
    assert update_readme(path, allow_missing=True)
    text = path.read_text()
    assert methods_table(allow_missing=True) in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert not update_readme(path, allow_missing=True)
    path.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        update_readme(path)


def test_readme_marks_a_headline_whose_result_is_not_committed(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(registry, "_REGISTERED", dict(registry._REGISTERED))
    awaited = "bench_results/not_committed_yet.json"
    headline = Headline("x{r.ratio:.2f}", file=awaited, rows={"r": {"method": "m", "metric": "t"}})
    registry.register("rsq", entry="hf_tokens.registry:get", headline=headline)
    with pytest.raises(HeadlineError, match=r"not_committed_yet\.json is not committed"):
        methods_table()
    assert f"awaiting `{awaited}`" in methods_table(allow_missing=True)
    path = tmp_path / "README.md"
    path.write_text(f"{START}\n{END}\n")
    assert main(["readme", "--path", str(path)]) == 2
    assert "not_committed_yet.json" in capsys.readouterr().err and path.read_text() == f"{START}\n{END}\n"
    assert main(["readme", "--path", str(path), "--allow-missing"]) == 0
    assert f"awaiting `{awaited}`" in path.read_text()


def _sane(text: str) -> bool:
    """Non-empty, mostly printable, several distinct words, not one pattern repeated (it compresses poorly)."""
    body = text.strip()
    if not body:
        return False
    printable = sum(c.isprintable() or c.isspace() for c in body) / len(body)
    words = body.split()
    compressed = len(zlib.compress(body.encode())) / len(body.encode())
    return printable >= 0.9 and len(set(words)) >= 3 and (len(body) < 80 or compressed > 0.25)


def test_sanity_check_rejects_degenerate_output():
    assert _sane("The capital of France is Paris.")
    for bad in ("", "A: 1.1.1.1.1.1.1.1.1.1.1.1", "aaaaaaaaaaaaaaaa", "\x00\x01\x02 x y z", "the the the " * 20):
        assert not _sane(bad), bad


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.id) for s in all_specs(extension="cache", implemented=True)])
def test_run_cache_path_reports_the_budget_effect_on_a_tiny_model(spec, monkeypatch):
    """The cache path of the main job at the README's 20% budget; FutureWarnings from our frames fail (pyproject)."""
    from hf_tokens.demo import CACHE_BUDGET, run
    from hf_tokens.testing import tiny_model, tiny_tokenizer

    model, tok = tiny_model("llama", num_hidden_layers=8), tiny_tokenizer()
    result, plain = run(spec.id, model, tok, "hello world " * 20, max_new_tokens=8, chat=False)
    assert CACHE_BUDGET == 0.2 and result.effects["budget"].startswith("20%")
    assert 0 < result.effects["kept_fraction"] <= 1 and result.new_tokens == plain.new_tokens == 8
    if result.effects["kept_fraction"] < 1:  # caches that evict: about the budget, far below the full cache
        assert result.effects["kept_fraction"] < 0.5 and result.effects["peak_vs_full"] < 0.5
    else:  # caches that keep every token and let (some) layers attend to a fraction
        assert 0 < result.effects["attended_fraction"] <= 0.5
    assert any("too noisy" in note for note in result.notes)


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(s, id=s.id)
        for s in all_specs(implemented=True)
        if s.demo or s.extension in ("cache", "generation")  # what `hf-tokens run` can run
    ],
)
def test_run_output_is_sane_on_smollm2(spec, smollm2, monkeypatch):
    """The main job (`hf-tokens run --method ID`) on the bundled model: sane text, the measured effect the README
    talks about, greedy-identical output for lossless methods, and no test fixture anywhere on the path."""
    from hf_tokens.demo import run

    monkeypatch.setitem(sys.modules, "hf_tokens.testing", None)  # importing the fixtures now fails
    model, tok = smollm2
    result, plain = run(spec.id, model, tok, "What is the capital of France?", max_new_tokens=32)
    assert _sane(plain.text) and "Paris" in plain.text
    assert result.method == spec.id
    if result.new_tokens or spec.extension in ("cache", "generation"):  # detectors return scores, not text
        assert _sane(result.text), repr(result.text)
    if spec.extension == "generation":
        contract = spec.load("contract")()
        if contract.get("lossless"):
            assert result.effects["identical_to_plain_greedy"], (result.text, plain.text)
        # the lossless tree methods report their accepted tokens per verification step
        if contract.get("lossless") and spec.id != "byte-level-probs":
            assert result.effects["accepted_tokens_per_step"] >= 1.0
    if spec.extension == "cache":
        evicts = result.effects["kept_fraction"] < 1
        assert result.effects["peak_vs_full"] < 0.5 if evicts else result.effects["attended_fraction"] < 0.5
