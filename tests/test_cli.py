from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hf_tokens.cli import main
from hf_tokens.readme import END, START, methods_table, update_readme
from hf_tokens.registry import all_specs

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


def test_run_rejects_planned_and_unknown_before_loading(capsys):
    assert main(["run", "--method", "rsq"]) == 2
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
    assert update_readme(path)
    text = path.read_text()
    assert methods_table() in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert not update_readme(path)
    path.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        update_readme(path)


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.id) for s in all_specs(implemented=True)])
def test_run_works_for_every_implemented_method(spec, smollm2):
    """The main job (`hf-tokens run --method ID`) has a path for every implemented method."""
    from hf_tokens.demo import run

    model, tok = smollm2
    result, plain = run(spec.id, model, tok, "What is the capital of France?", max_new_tokens=6)
    assert plain is not None and plain.new_tokens >= 1
    assert result.method == spec.id and isinstance(result.text, str) and result.effects
