"""Publishing the Hub way: ``save_for_hub`` (folder with weights, config and our card) and ``push_to_hub``.
Self-contained code repositories (``custom_generate``, modeling code) are in :mod:`hf_tokens.hub.exports`."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hf_tokens.hub.cards import config_to_dict, render_card
from hf_tokens.registry import MethodSpec, get

METADATA_FILE = "hf_tokens.json"


def _atomic_folder(folder: str | os.PathLike[str], write: Any, *, overwrite: bool) -> Path:
    """Write a folder through ``write(tmp)`` into a sibling temp folder, then move it into place.

    Nothing is left half-written: on any error the temp folder is removed and an existing ``folder`` is untouched.
    """
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise ValueError(f"folder {str(target)!r} exists and is not a directory")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ValueError(f"folder {str(target)!r} is not empty; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _base_model_of(obj: Any) -> str | None:
    """The Hub id ``obj`` derives from: its ``_name_or_path`` when that is a Hub id; for a folder built by
    :mod:`hf_tokens.assets` (a bundled model or tokenizer), that asset's upstream checkpoint; else ``None``."""
    from hf_tokens.assets import hub_name

    config = getattr(obj, "config", None)
    name = getattr(config, "_name_or_path", None) or getattr(obj, "name_or_path", None)
    if not name:
        return None
    if os.path.isabs(str(name)) or str(name).startswith(".") or os.path.isdir(str(name)):
        return hub_name(str(name))  # a local path says nothing to a Hub reader, unless it is one of our assets
    return str(name)


def save_for_hub(
    obj: Any,
    folder: str | os.PathLike[str],
    *,
    method_id: str,
    kind: str | None = None,
    tokenizer: Any = None,
    config: Any = None,
    overwrite: bool = False,
    safe_serialization: bool = True,
    **card_context: Any,
) -> Path:
    """Save ``obj`` (a model, tokenizer or anything with ``save_pretrained``; may be ``None``) and ``tokenizer`` into
    ``folder`` with our model card as ``README.md`` and the method's config in ``hf_tokens.json``.

    The folder is written atomically: on error nothing is left behind and an existing folder is unchanged.
    Extra keyword arguments reach :func:`hf_tokens.hub.render_card` (``base_model``, ``metrics``, ``usage`` ...).
    """
    spec = get(method_id)
    for name, thing in (("obj", obj), ("tokenizer", tokenizer)):
        if thing is not None and not hasattr(thing, "save_pretrained"):
            raise TypeError(f"{name} must have save_pretrained() (a model or tokenizer), got {type(thing).__name__}")
    config_dict = config_to_dict(config)
    card_context.setdefault("base_model", _base_model_of(obj) or _base_model_of(tokenizer))
    card = render_card(method_id, kind, config=config_dict, **card_context)  # render before writing anything

    def write(tmp: Path) -> None:
        if obj is not None:
            if "safe_serialization" in _signature(obj.save_pretrained):
                obj.save_pretrained(tmp, safe_serialization=safe_serialization)
            else:
                obj.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        _write_metadata(tmp, spec, config_dict)
        card.save(tmp / "README.md")

    return _atomic_folder(folder, write, overwrite=overwrite)


def _signature(fn: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def _write_metadata(folder: Path, spec: MethodSpec, config: dict[str, Any] | None) -> None:
    from hf_tokens import __version__

    meta = {"method": spec.id, "paper": spec.paper_url, "hf_tokens_version": __version__, "config": config}
    (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def push_to_hub(
    obj: Any,
    repo_id: str,
    *,
    method_id: str,
    tokenizer: Any = None,
    config: Any = None,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    **card_context: Any,
) -> Any:
    """Save like :func:`save_for_hub` into a temporary folder and upload it to ``repo_id`` (created if missing)."""
    from huggingface_hub import HfApi

    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id must look like 'user/name', got {repo_id!r}")
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_for_hub(
            obj,
            Path(tmp) / "repo",
            method_id=method_id,
            tokenizer=tokenizer,
            config=config,
            repo_id=repo_id,
            **card_context,
        )
        api.create_repo(repo_id, private=private, exist_ok=True)
        return api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            revision=revision,
            commit_message=commit_message or f"Upload {method_id} artefact with hf_tokens",
        )
