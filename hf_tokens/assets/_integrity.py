"""Content checks of cached files: a full SHA-256, a cheap sampled digest, a stat stamp, and structure checks.

A build records each file's size, SHA-256 and sampled digest (:func:`file_record`). A load then checks, per file:

- the size (free);
- the stat stamp ``(size, mtime_ns, ctime_ns, inode)`` against the stamp recorded when the file was last fully
  hashed: any write, copy, ``touch`` or ``os.utime`` changes ``ctime``, so an unchanged stamp means the file was not
  rewritten through the file system since its full hash matched; a changed stamp costs one full hash (about 1 s
  for 540 MB), after which the new stamp is recorded;
- the sampled digest: 16 blocks of 64 KiB spread over the file (its first and last block included, so a corrupt
  safetensors header is always read), about 1 MiB per file. It catches damage that leaves the stamp unchanged
  (bit rot, writes below the file system) in the sampled blocks; ``hf-tokens assets status --verify`` hashes
  everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

BLOCK = 1 << 16
SAMPLES = 16
_CHUNK = 1 << 22


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sampled_digest(path: Path) -> str:
    """SHA-256 over the size and ``SAMPLES`` evenly spaced ``BLOCK``-byte blocks (the whole file when it is small)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if size <= SAMPLES * BLOCK:
            digest.update(f.read())
        else:
            last = size - BLOCK
            for i in range(SAMPLES):
                f.seek(last * i // (SAMPLES - 1))
                digest.update(f.read(BLOCK))
    return digest.hexdigest()


def stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def file_record(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_file(path), "sample": sampled_digest(path)}


def structure_problem(path: Path) -> str | None:
    """Why ``path`` is not a well-formed file of its kind (safetensors: header and data extent; JSON: parses), or
    ``None``. Used where no recorded hash exists (a cache written before hashes were recorded)."""
    try:
        if path.suffix == ".safetensors":
            return _safetensors_problem(path)
        if path.suffix == ".json":
            json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        return f"{path.name}: {exc}"
    return None


def _safetensors_problem(path: Path) -> str | None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"{path.name}: shorter than a safetensors header"
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            return f"{path.name}: header length {n} exceeds the file"
        header = json.loads(f.read(n))
    if not isinstance(header, dict):
        return f"{path.name}: header is not a JSON object"
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        return f"{path.name}: tensors end at byte {8 + n + end}, the file has {size}"
    return None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary sibling renamed into place (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
