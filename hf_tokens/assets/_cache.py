"""The on-disk cache of built fixtures: atomic builds, a manifest with each file's size and content hash, and
detection of corrupt, truncated or half-written folders (see :mod:`hf_tokens.assets._integrity` for the cost).

A folder written by older hf_tokens releases has a manifest with sizes only; the first check upgrades it in place
(each file's structure is checked, then hashed once and the hashes recorded) instead of rebuilding it, so processes
that are reading it meanwhile are not disturbed. A folder that fails the structure check is rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hf_tokens.assets._integrity import (
    file_record,
    sampled_digest,
    sha256_file,
    stamp,
    structure_problem,
    write_json_atomic,
)

logger = logging.getLogger(__name__)

MANIFEST = "hf_tokens_manifest.json"
VERIFIED = "hf_tokens_verified.json"  # file -> stat stamp at its last full-hash match (a cache of verifications)
FORMAT = 2
ENV_VAR = "HF_TOKENS_CACHE"
NOT_BUILT = "not built yet"


class AssetNotInstalledError(RuntimeError):
    """A real model or tokenizer whose package is not installed; the message names the install command."""


def cache_root() -> Path:
    """``$HF_TOKENS_CACHE``, else ``$XDG_CACHE_HOME/hf_tokens``, else ``~/.cache/hf_tokens``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "hf_tokens"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def check_folder(folder: Path, key: str, *, full: bool = False) -> str | None:
    """``None`` when ``folder`` holds an intact build for ``key``, else the reason (``NOT_BUILT`` when absent).

    Sizes always; a full SHA-256 of each file whose stat stamp changed since its last verification (all files when
    ``full``), else the sampled digest. A manifest without hashes (older releases) is upgraded here.
    """
    manifest = _read_json(folder / MANIFEST)
    if manifest is None:
        return NOT_BUILT if not folder.exists() else f"no readable {MANIFEST} (an interrupted or foreign build)"
    try:
        if manifest.get("key") != key:
            return f"built by another recipe ({manifest.get('key')!r}, expected {key!r})"
        files: dict[str, dict[str, Any]] = manifest["files"]
        for name, rec in files.items():
            path = folder / name
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != rec["size"]:
                return f"{name} has {path.stat().st_size} bytes, its build wrote {rec['size']}"
        if any("sha256" not in rec for rec in files.values()):
            return _upgrade(folder, manifest)
        return _check_contents(folder, files, full)
    except (OSError, AttributeError, KeyError, TypeError) as exc:
        return f"unreadable manifest or file ({exc})"


def _check_contents(folder: Path, files: dict[str, dict[str, Any]], full: bool) -> str | None:
    stamps = _read_json(folder / VERIFIED)
    stamps = stamps if isinstance(stamps, dict) else {}
    fresh: dict[str, list[int]] = {}
    for name, rec in files.items():
        path = folder / name
        now = stamp(path)
        if full or stamps.get(name) != now:
            if sha256_file(path) != rec["sha256"]:
                return f"{name}: content differs from its build (SHA-256 mismatch)"
            fresh[name] = now
        elif sampled_digest(path) != rec["sample"]:
            return f"{name}: content differs from its build (sampled blocks)"
    if any(stamps.get(name) != s for name, s in fresh.items()):
        _record_stamps(folder, {**stamps, **fresh})
    return None


def _record_stamps(folder: Path, stamps: dict[str, list[int]]) -> None:
    with contextlib.suppress(OSError):  # a read-only cache still works; it is fully hashed again next time
        write_json_atomic(folder / VERIFIED, stamps)


def _upgrade(folder: Path, manifest: dict[str, Any]) -> str | None:
    """Record hashes in a sizes-only manifest after checking each file's structure (cannot be checked: content)."""
    for name in manifest["files"]:
        problem = structure_problem(folder / name)
        if problem:
            return f"written by an older release and damaged: {problem}"
    logger.warning("hf_tokens: recording content hashes of %s once (cache written by an older release)", folder)
    files = {name: file_record(folder / name) for name in manifest["files"]}
    with contextlib.suppress(OSError):  # read-only: the old manifest stays (sizes matched, structure sound)
        write_json_atomic(folder / MANIFEST, {"format": FORMAT, "key": manifest["key"], "files": files})
    _record_stamps(folder, {name: stamp(folder / name) for name in files})
    return None


def is_complete(folder: Path, key: str, *, full: bool = False) -> bool:
    """True when ``folder`` holds an intact build for ``key`` (see :func:`check_folder`)."""
    return check_folder(folder, key, full=full) is None


def build_once(name: str, key: str, build: Callable[[Path], None], *, full: bool = False) -> Path:
    """Return ``cache_root()/name``, building it with ``build(tmp_folder)`` unless an intact build exists.

    The build writes into a temporary sibling folder that is renamed into place only after it succeeded and its
    manifest (sizes and SHA-256 of every file) was written, so an interrupted build never leaves a folder that looks
    complete. A folder that is incomplete or corrupt (missing manifest, wrong size or content, other ``key``) is
    replaced by a fresh build. ``full=True`` hashes every file of an existing build instead of trusting stamps.
    """
    root = cache_root()
    target = root / name
    problem = check_folder(target, key, full=full)
    if problem is None:
        return target
    if problem != NOT_BUILT:
        logger.warning("hf_tokens: rebuilding %s: %s", target, problem)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        build(tmp)
        paths = [p for p in sorted(tmp.rglob("*")) if p.is_file()]
        files = {str(p.relative_to(tmp)): file_record(p) for p in paths}
        (tmp / MANIFEST).write_text(json.dumps({"format": FORMAT, "key": key, "files": files}, indent=1))
        (tmp / VERIFIED).write_text(json.dumps({str(p.relative_to(tmp)): stamp(p) for p in paths}, indent=1))
        _replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _replace_folder(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.replace(target, trash / "old")
    os.replace(new, target)
    shutil.rmtree(trash, ignore_errors=True)


def invalidate(name: str) -> None:
    """Remove a cached build so the next load rebuilds it."""
    shutil.rmtree(cache_root() / name, ignore_errors=True)
