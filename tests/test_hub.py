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
    assert "## Results" in env_out.stdout and "| aded: tokens/s |" in env_out.stdout


def test_cards_dir_in_source_tree():
    assert cards_dir() == ROOT / "cards"  # editable install: the source tree's templates
    assert {p.name for p in cards_dir().glob("*.md.j2")} == {
        "model.md.j2",
        "custom_generate.md.j2",
        "kernel.md.j2",
        "tokenizer.md.j2",
    }
