from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from hf_tokens.hub import METADATA_FILE, cards_dir, push_to_hub, render_card, save_for_hub
from hf_tokens.registry import get
from hf_tokens.testing import tiny_model, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("kind", "method", "arxiv"),
    [
        ("model", "h2o", "2306.14048"),
        ("custom_generate", "token-recycling", "2408.08696"),
        ("kernel", "cut-cross-entropy", "2411.09009"),
        ("tokenizer", "tokenadapt", "2505.09738"),
    ],
)
def test_every_kind_renders_with_front_matter(kind, method, arxiv):
    card = render_card(
        method,
        kind,
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        config={"budget": 0.2},
        metrics=[{"metric": "ppl", "value": 1.03, "baseline": "full", "baseline_value": 1.0, "ratio": 1.03}],
    )
    text = str(card)
    assert text.startswith("---\n")
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert f"arxiv:{arxiv}" in card.data.tags
    assert get(method).title in text and '"budget": 0.2' in text and "| ppl | 1.03 |" in text


def test_bad_card_arguments():
    with pytest.raises(ValueError, match="kind"):
        render_card("h2o", "poster")
    with pytest.raises(TypeError, match="metrics"):
        render_card("h2o", metrics={"a": 1})


def test_save_for_hub_round_trip(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = tiny_model("llama"), tiny_tokenizer()
    folder = save_for_hub(model, tmp_path / "out", method_id="h2o", tokenizer=tok, config={"budget": 0.5})
    assert (folder / "README.md").read_text().startswith("---")
    assert json.loads((folder / METADATA_FILE).read_text())["method"] == "h2o"
    again = AutoModelForCausalLM.from_pretrained(folder)
    ids = torch.tensor([tok("Hello").input_ids])
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, model(ids).logits)
    assert AutoTokenizer.from_pretrained(folder)("Hello").input_ids == tok("Hello").input_ids


def test_save_for_hub_leaves_nothing_on_error(tmp_path):
    class Broken:
        def save_pretrained(self, path, **kw):
            (Path(path) / "half.bin").write_text("x")
            raise OSError("disk full")

    with pytest.raises(OSError):
        save_for_hub(Broken(), tmp_path / "out", method_id="h2o")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "old.txt").write_text("old")
    with pytest.raises(ValueError, match="not empty"):
        save_for_hub(tiny_tokenizer(), tmp_path / "keep", method_id="h2o")
    with pytest.raises(OSError):
        save_for_hub(Broken(), tmp_path / "keep", method_id="h2o", overwrite=True)
    assert [p.name for p in (tmp_path / "keep").iterdir()] == ["old.txt"]
    with pytest.raises(TypeError, match="save_pretrained"):
        save_for_hub(object(), tmp_path / "x", method_id="h2o")


def test_push_to_hub_uploads_our_card(monkeypatch):
    """Offline: HfApi's two calls are mocked; the uploaded folder must hold the weights and our card."""
    from huggingface_hub import HfApi

    seen = {}

    def create_repo(self, repo_id, **kw):
        seen["created"] = repo_id

    def upload_folder(self, *, folder_path, repo_id, **kw):
        seen["files"] = sorted(p.name for p in Path(folder_path).iterdir())
        seen["readme"] = (Path(folder_path) / "README.md").read_text()
        seen["repo"] = repo_id
        return "commit-info"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    result = push_to_hub(tiny_model("llama"), "me/tiny-h2o", method_id="h2o", tokenizer=tiny_tokenizer(), token="x")
    assert result == "commit-info" and seen["created"] == seen["repo"] == "me/tiny-h2o"
    assert "model.safetensors" in seen["files"] and "README.md" in seen["files"]
    assert "Heavy-Hitter Oracle" in seen["readme"] and "me/tiny-h2o" in seen["readme"]
    with pytest.raises(ValueError, match="repo_id"):
        push_to_hub(tiny_model("llama"), "no-slash", method_id="h2o")


def test_cards_ship_in_the_wheel(tmp_path):
    """Build the wheel and check the templates are inside hf_tokens/_cards and found from an install."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("hf_tokens-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for kind in ("model", "custom_generate", "kernel", "tokenizer"):
        assert f"hf_tokens/_cards/{kind}.md.j2" in names
    assert all(n.startswith(("hf_tokens/", "hf_tokens-")) for n in names), "only hf_tokens in the wheel"
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "from hf_tokens.hub import cards_dir, render_card; print(cards_dir()); print(render_card('zett').data.tags); "
        "print(render_card('aded'))"
    )
    env_out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(site)}
    )
    assert env_out.returncode == 0, env_out.stderr[-2000:]
    assert str(site / "hf_tokens" / "_cards") in env_out.stdout
    # the committed results ship too: the card's Results section renders from them outside the source tree
    assert "hf_tokens/_bench_results/speculative.json" in names
    assert "## Results" in env_out.stdout and "| aded [oneDNN]: speed-up vs greedy, same kernel |" in env_out.stdout


def test_cards_dir_in_source_tree():
    assert cards_dir() == ROOT / "cards"  # editable install: the source tree's templates
    assert {p.name for p in cards_dir().glob("*.md.j2")} == {
        "model.md.j2",
        "custom_generate.md.j2",
        "kernel.md.j2",
        "tokenizer.md.j2",
    }


def _root_module(tmp_path, monkeypatch, name, source):
    """A module ``name`` (not part of hf_tokens) to vendor from, importable through ``sys.path``."""
    import importlib

    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(src))
    importlib.invalidate_caches()
    return name


GOOD_ROOT = """
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from hf_tokens.generation.tree import TreeShape
from hf_tokens.generation.byte_level import config as byte_config
import hf_tokens._compat as compat
from hf_tokens import __version__  # defined in a package __init__: the __init__ is vendored as a module

if TYPE_CHECKING:
    from hf_tokens.registry import MethodSpec


def lazy():
    from hf_tokens.generation.tree.template import best_first_template

    return best_first_template


def describe(spec: MethodSpec | None = None):
    return TreeShape, byte_config.ByteLevelConfig, compat.has_parameter, __version__
"""


def test_vendor_rewrites_the_import_closure_to_sibling_files(tmp_path, monkeypatch):
    import ast
    import importlib
    import sys

    import hf_tokens
    from hf_tokens.hub import vendor_modules

    root = _root_module(tmp_path, monkeypatch, "vendor_good_root", GOOD_ROOT)
    out = tmp_path / "pkg_vendored_good"
    vendored = vendor_modules([root], out)
    stems = set(vendored.files.values())
    # the lazily imported template module is vendored; the TYPE_CHECKING-only registry is not
    assert {"generation_tree_tree", "generation_tree_template", "generation_byte_level_config", "_compat"} <= stems
    assert "generation_tree" not in stems, "a lazily exported name is imported from its defining module"
    # _compat imports transformers lazily: it is a requirement too; bounds are hf_tokens' own lower bounds
    assert [r.partition(">=")[0] for r in vendored.requirements] == ["torch", "transformers"]
    assert all(">=" in r for r in vendored.requirements)
    for path in out.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1 or not (node.module or "").startswith("hf_tokens"), (path.name, node.lineno)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("hf_tokens") for a in node.names), (path.name, node.lineno)
    assert "from .generation_tree_template import best_first_template" in (out / f"{root}.py").read_text()
    # the folder imports as a package of sibling modules, none of them from hf_tokens
    (out / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(f"pkg_vendored_good.{root}")
    shape, config_cls, has_parameter, version = module.describe()
    assert version == hf_tokens.__version__ and (out / "hf_tokens.py").is_file()
    assert shape.__module__ == "pkg_vendored_good.generation_tree_tree"
    assert config_cls.__module__ == "pkg_vendored_good.generation_byte_level_config"
    assert module.lazy().__module__ == "pkg_vendored_good.generation_tree_template"
    assert has_parameter(module.describe, "spec")
    vendored_names = [n for n in sys.modules if n.startswith("pkg_vendored_good.")]
    assert all(sys.modules[n].__file__.startswith(str(out)) for n in vendored_names)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("from hf_tokens.does_not_exist import thing\n", "no Python source"),
        ("import hf_tokens.registry\n", "binds the name hf_tokens"),
        ("from hf_tokens.generation import token_recycling\n", "a package"),
        ("from hf_tokens.generation.tree import NotThere\n", "nor lazily exported"),
        ("import importlib\nmod = importlib.import_module('hf_tokens.testing')\n", "dynamically"),
        ("from hf_tokens.registry import load_object\nf = lambda: load_object('hf_tokens.x:Y')\n", "dynamically"),
        ("from .sibling import thing\n", "relative import beyond"),
        ("import vendor_local_helper\n", "neither hf_tokens, the standard library nor an installed distribution"),
        ("def f():\n    from . import x\n", "relative import beyond"),
        ('"""Example::\n\n    from .ghost import thing\n"""\n', "loader would look for a sibling file ghost.py"),
        ("x = 1; from hf_tokens._compat import cache_kwarg\n", "own"),
    ],
)
def test_vendor_fails_loudly_on_what_it_cannot_vendor(tmp_path, monkeypatch, source, match):
    from hf_tokens.hub import VendoringError, vendor_modules

    _root_module(tmp_path, monkeypatch, "vendor_local_helper", "VALUE = 1\n")
    root = _root_module(tmp_path, monkeypatch, f"vendor_bad_{abs(hash(source))}", source)
    with pytest.raises(VendoringError, match=match):
        vendor_modules([root], tmp_path / "out")
    assert not (tmp_path / "out").exists(), "nothing is written when vendoring fails"


def test_export_custom_generate_is_atomic_and_refuses_non_generation_methods(tmp_path, monkeypatch):
    from hf_tokens.hub import VendoringError, export_custom_generate, exports

    with pytest.raises(ValueError, match="generation strategy"):
        export_custom_generate("h2o", tmp_path / "h2o")
    with pytest.raises(ValueError, match="generation strategy"):
        export_custom_generate("zett", tmp_path / "zett")  # planned
    root = _root_module(tmp_path, monkeypatch, "vendor_bad_entry", "import hf_tokens.registry\ngenerate = None\n")
    monkeypatch.setattr(exports, "_generate_module", lambda spec: root)
    with pytest.raises(VendoringError):
        export_custom_generate("aded", tmp_path / "aded")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"], "nothing left behind"


def test_generate_module_without_a_custom_generate_file(monkeypatch):
    """After the wrappers are refactored a method may have no custom_generate.py: its entry or its package's lazy
    export of ``generate`` backs the repository."""
    import dataclasses

    from hf_tokens.hub import exports
    from hf_tokens.hub.vendor import lazy_export_target
    from hf_tokens.registry import get

    assert lazy_export_target("hf_tokens.generation.tree", "TreeShape") == "hf_tokens.generation.tree.tree"
    assert lazy_export_target("hf_tokens.generation.tree", "missing") is None
    import importlib
    import types

    def without_custom_generate(name):
        if name.endswith(".custom_generate"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return importlib.import_module(name)

    monkeypatch.setattr(exports, "importlib", types.SimpleNamespace(import_module=without_custom_generate))
    assert exports._generate_module(get("aded")) == "hf_tokens.generation.aded.aded"  # its entry
    spec = dataclasses.replace(get("aded"), entry="hf_tokens.generation.aded.aded:ADEDConfig")
    assert exports._generate_module(spec) == "hf_tokens.generation.aded.aded"  # the package's lazy export


def test_export_custom_generate_layout(tmp_path):
    from hf_tokens.hub import export_custom_generate

    folder = export_custom_generate("aded", tmp_path / "aded")
    sub = folder / "custom_generate"
    generate_py = (sub / "generate.py").read_text()
    assert "from .generation_aded_custom_generate import generate" in generate_py
    assert {"generation_aded_aded.py", "generation_tree_decode.py", "generation_tree_verify.py"} <= {
        p.name for p in sub.iterdir()
    }
    assert not any(p.is_dir() for p in sub.iterdir() if p.name != "__pycache__"), "transformers loads flat files only"
    assert [r.partition(">=")[0] for r in (sub / "requirements.txt").read_text().split()] == ["torch", "transformers"]
    assert "self-contained" in (folder / "README.md").read_text()


def test_export_modeling_code_refuses_unregistered_models(tmp_path):
    from hf_tokens.hub import export_modeling_code
    from hf_tokens.testing import tiny_config

    with pytest.raises(TypeError, match="PreTrainedModel or PretrainedConfig"):
        export_modeling_code(object(), tmp_path / "x")

    class NotRegisteredConfig(type(tiny_config("llama"))):
        model_type = "hf_tokens_not_registered"

    with pytest.raises(ValueError, match=r"AutoConfig\.register"):
        export_modeling_code(NotRegisteredConfig(), tmp_path / "x")
    assert not (tmp_path / "x").exists()
