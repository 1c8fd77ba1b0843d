"""Offline text corpora for benchmarks and examples (ASSETS.md): code, English, legal and technical English, and
repetitive structured text (a change history and a package database, where a model copies from far back).

``load_text("jargon")`` returns one string; ``text_chunks(name, n, chars)`` deterministic slices of it.
The Debian packages ``fortunes``, ``jargon-text`` and ``iso-codes`` (``iso-codes``: the ISO 639/3166/4217/15924
code tables as JSON records) are installed by ``setup.sh``; ``dpkg-changelog`` (the release history of dpkg, one
version entry after another) comes with ``dpkg``'s documentation on every Debian system that keeps
``/usr/share/doc``. ``man-de`` and ``man-fr`` are the German and French manual pages that Debian's base packages
(dpkg, apt, man-db, procps, ...) install under ``/usr/share/man/{de,fr}``, rendered to plain text with ``man`` (the
non-English text here, where English-centric tokenizers over-segment words); ``man-en`` are the English originals of
the German pages (technical English that no training run here reads: a held-out domain).
"""

from __future__ import annotations

import functools
import gzip
import os
import random
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from hf_tokens.assets._cache import AssetNotInstalledError

CORPORA = (
    "python-stdlib",
    "fortunes",
    "jargon",
    "licenses",
    "dpkg-changelog",
    "iso-codes",
    "man-de",
    "man-fr",
    "man-en",
)


def _read_stdlib(limit_files: int = 400) -> str:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.is_file())[:limit_files]
    return "\n\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def _read_fortunes() -> str:
    root = Path("/usr/share/games/fortunes")
    files = sorted(p for p in root.glob("*") if p.is_file() and not p.suffix and p.name != "off")
    if not files:
        raise AssetNotInstalledError("fortunes are not installed: `apt-get install fortunes` (or `bash setup.sh`)")
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)
    return "\n".join(q.strip() for q in text.split("\n%\n") if q.strip())


def _read_jargon() -> str:
    path = Path("/usr/share/doc/jargon-text/jargon.txt.gz")
    if not path.is_file():
        raise AssetNotInstalledError(
            "jargon-text is not installed: `apt-get install jargon-text` (or `bash setup.sh`)"
        )
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _read_licenses() -> str:
    root = Path("/usr/share/common-licenses")
    files = sorted(p for p in root.iterdir() if p.is_file())
    return "\n\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def _read_dpkg_changelog() -> str:
    path = Path("/usr/share/doc/dpkg/changelog.gz")
    if not path.is_file():
        raise AssetNotInstalledError(f"{path} is missing: this corpus needs a Debian system with dpkg's documentation")
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _read_iso_codes() -> str:
    root = Path("/usr/share/iso-codes/json")
    files = sorted(root.glob("iso_*.json")) if root.is_dir() else []
    if not files:
        raise AssetNotInstalledError("iso-codes is not installed: `apt-get install iso-codes` (or `bash setup.sh`)")
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def render_man_page(page: Path) -> str:
    """One manual page (a roff source, gzipped or not) as plain text: ``man --local-file`` at 100 columns, overstrikes
    removed with ``col -b``, runs of blanks collapsed."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "MANWIDTH": "100"}
    out = subprocess.run(["man", "--local-file", str(page)], capture_output=True, text=True, env=env, check=False)
    plain = subprocess.run(["col", "-b"], input=out.stdout, capture_output=True, text=True, check=False).stdout
    return re.sub(r"[ \t]+", " ", plain).strip()


def _man_pages(language: str) -> list[Path]:
    """The gzipped pages of ``language``; for ``en`` the English originals of the German pages (the same base
    packages install both, so the two corpora cover the same programs)."""
    root = Path("/usr/share/man")
    if language != "en":
        return sorted((root / language).glob("man*/*.gz"))
    return [english for page in _man_pages("de") if (english := root / page.parent.name / page.name).is_file()]


def _read_man(language: str) -> str:
    pages = _man_pages(language)
    if not pages or shutil.which("man") is None or shutil.which("col") is None:
        raise AssetNotInstalledError(
            f"{language} manual pages need /usr/share/man (German pages kept by Debian's base packages) and "
            "`man`/`col` (`apt-get install man-db groff-base bsdextrautils`)"
        )
    return "\n\n".join(text for text in map(render_man_page, pages) if text)


_READERS = {
    "python-stdlib": _read_stdlib,
    "fortunes": _read_fortunes,
    "jargon": _read_jargon,
    "licenses": _read_licenses,
    "dpkg-changelog": _read_dpkg_changelog,
    "iso-codes": _read_iso_codes,
    "man-de": functools.partial(_read_man, "de"),
    "man-fr": functools.partial(_read_man, "fr"),
    "man-en": functools.partial(_read_man, "en"),
}


@functools.cache
def load_text(name: str) -> str:
    """The whole corpus ``name`` (one of :data:`CORPORA`) as one string."""
    if name not in _READERS:
        raise ValueError(f"unknown corpus {name!r}; known: {CORPORA}")
    return _READERS[name]()


def text_chunks(name: str, n: int, chars: int, *, seed: int = 0, start_at_line: bool = True) -> list[str]:
    """``n`` deterministic, non-overlapping slices of ``chars`` characters from corpus ``name``."""
    if n < 1 or chars < 1:
        raise ValueError(f"n and chars must be >= 1, got n={n}, chars={chars}")
    text = load_text(name)
    if len(text) < n * chars:
        raise ValueError(f"corpus {name!r} has {len(text)} characters, fewer than n*chars={n * chars}")
    rng = random.Random(seed)
    slots = rng.sample(range(len(text) // chars), n)
    out = []
    for slot in sorted(slots):
        begin = slot * chars
        if start_at_line:
            nl = text.find("\n", begin, begin + chars // 4)
            begin = nl + 1 if nl >= 0 else begin
        out.append(text[begin : begin + chars])
    return out


def without(text: str, held_out: Sequence[str]) -> str:
    """``text`` with every occurrence of each ``held_out`` chunk cut out and replaced by a newline (overlapping
    occurrences are cut as one): evaluation text that no tokenizer, model or hypernetwork may train on."""
    spans: list[list[int]] = []
    for chunk in held_out:
        start = text.find(chunk) if chunk else -1
        while start >= 0:
            spans.append([start, start + len(chunk)])
            start = text.find(chunk, start + 1)
    merged: list[list[int]] = []
    for span in sorted(spans):
        if merged and span[0] < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], span[1])
        else:
            merged.append(span)
    out, pos = [], 0
    for start, end in merged:
        out += [text[pos:start], "\n"]
        pos = end
    return "".join(out) + text[pos:]
