"""The on-disk cache of built fixtures: atomic builds, a manifest, and detection of corrupt or half-written folders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

MANIFEST = "hf_tokens_manifest.json"
ENV_VAR = "HF_TOKENS_CACHE"


class AssetNotInstalledError(RuntimeError):
    """A real model or tokenizer whose package is not installed; the message names the install command."""


def cache_root() -> Path:
    """``$HF_TOKENS_CACHE``, else ``$XDG_CACHE_HOME/hf_tokens``, else ``~/.cache/hf_tokens``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "hf_tokens"


def _file_record(path: Path) -> dict[str, int]:
    return {"size": path.stat().st_size}


def is_complete(folder: Path, key: str) -> bool:
    """True when ``folder`` holds a finished build for ``key``: manifest present, every listed file the right size."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        data = json.loads(manifest.read_text())
        if data.get("key") != key:
            return False
        for name, rec in data["files"].items():
            f = folder / name
            if not f.is_file() or f.stat().st_size != rec["size"]:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def build_once(name: str, key: str, build: Callable[[Path], None]) -> Path:
    """Return ``cache_root()/name``, building it with ``build(tmp_folder)`` unless a complete build exists.

    The build writes into a temporary sibling folder that is renamed into place only after it succeeded and its
    manifest was written, so an interrupted build never leaves a folder that looks complete. A folder that is
    incomplete or corrupt (missing manifest, wrong sizes, other ``key``) is removed and rebuilt.
    """
    root = cache_root()
    target = root / name
    if is_complete(target, key):
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        build(tmp)
        files = {str(p.relative_to(tmp)): _file_record(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps({"key": key, "files": files}, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def invalidate(name: str) -> None:
    """Remove a cached build so the next load rebuilds it."""
    shutil.rmtree(cache_root() / name, ignore_errors=True)
