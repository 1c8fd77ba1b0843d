"""Offline domain corpora for the KL3M tokenizers (issue 21 item 3), built by a seeded script from this machine.

Domains (what exists offline; nothing is downloaded):

* ``legal``: licences and legal notices: the full licence texts in ``/usr/share/common-licenses`` and every Debian
  package's ``/usr/share/doc/*/copyright`` notice (duplicates by content removed).
* ``technical``: technical documentation under ``/usr/share/doc``: ``README*``, ``NEWS*``, ``FAQ*``, ``TODO*`` and
  ``*.txt`` files (plain or gzip), changelogs excluded (they are a separate corpus in :mod:`hf_tokens.assets.text`);
  plus, where ``setup.sh`` unpacked them (``$HF_TOKENS_CACHE/debian/python3.11-doc``), the reST sources of the Python
  3.11 documentation from Debian's ``python3.11-doc`` (``--no-python-docs`` leaves them out).
* ``general``: general English from :mod:`hf_tokens.assets.text`: the fortune files (one document per file) and the
  Jargon File, which is kept whole in the training split.
* financial and governmental text: **none exists offline here** (no filings, statutes or regulations are installed;
  the ISO 4217/3166 code tables in ``iso-codes`` are JSON tables, not documents), so these domains are absent.

Every domain is split into train and held-out **by file** (a seeded shuffle of the sorted file list, ``--heldout``
of the files held out), so no held-out document was seen in training. Files are capped at ``--max-file-bytes``.

    PYTHONPATH=. python benchmarks/data/kl3m_corpora.py          # prints files and bytes per domain and split
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

DOC_ROOT = Path("/usr/share/doc")
PYTHON_DOCS = ("debian", "python3.11-doc", "_sources")  # under the asset cache; see setup.sh
LICENSE_ROOT = Path("/usr/share/common-licenses")
FORTUNE_ROOT = Path("/usr/share/games/fortunes")
TECH_PREFIXES = ("README", "NEWS", "FAQ", "TODO")
DOMAINS = ("legal", "technical", "general")
ABSENT = {
    "financial": "no financial filings or reports are installed offline",
    "governmental": "no statutes, regulations or government documents are installed offline",
}


@dataclass
class DomainCorpus:
    """One domain: train and held-out documents as ``(path, text)`` pairs."""

    name: str
    train: list[tuple[str, str]] = field(default_factory=list)
    heldout: list[tuple[str, str]] = field(default_factory=list)

    def texts(self, split: str) -> list[str]:
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        return [text for _, text in getattr(self, split)]

    def summary(self) -> dict[str, dict[str, int]]:
        return {
            split: {"files": len(docs), "bytes": sum(len(t.encode("utf-8")) for _, t in docs)}
            for split, docs in (("train", self.train), ("heldout", self.heldout))
        }


def _read(path: Path, max_bytes: int) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read(max_bytes)
    except (OSError, EOFError):
        return ""
    if b"\x00" in raw[:4096]:  # binary file
        return ""
    return raw.decode("utf-8", errors="replace")


def _legal_files() -> list[Path]:
    licences = [p for p in LICENSE_ROOT.iterdir() if p.is_file()] if LICENSE_ROOT.is_dir() else []
    notices = [p for p in DOC_ROOT.glob("*/copyright") if p.is_file()]
    return sorted(licences) + sorted(notices)


def _technical_files() -> list[Path]:
    out = []
    for path in DOC_ROOT.rglob("*"):
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        if path.is_file() and not path.is_symlink() and (name.startswith(TECH_PREFIXES) or name.endswith(".txt")):
            out.append(path)
    return sorted(out)


def _python_doc_files() -> list[Path]:
    from hf_tokens.assets._cache import cache_root

    root = cache_root().joinpath(*PYTHON_DOCS)
    return sorted(p for p in root.rglob("*.txt") if p.is_file()) if root.is_dir() else []


def _fortune_files() -> list[Path]:
    if not FORTUNE_ROOT.is_dir():
        return []
    return sorted(p for p in FORTUNE_ROOT.iterdir() if p.is_file() and not p.suffix and p.name != "off")


def _split(name: str, files: list[Path], *, seed: int, heldout: float, max_file_bytes: int) -> DomainCorpus:
    corpus = DomainCorpus(name)
    seen: set[str] = set()
    docs = []
    for path in files:
        text = _read(path, max_file_bytes)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if len(text.strip()) < 200 or digest in seen:
            continue
        seen.add(digest)
        docs.append((str(path), text))
    rng = random.Random(f"{seed}:{name}")
    order = list(range(len(docs)))
    rng.shuffle(order)
    n_held = max(1, round(heldout * len(docs))) if len(docs) > 1 else 0
    held = set(order[:n_held])
    for i, doc in enumerate(docs):
        (corpus.heldout if i in held else corpus.train).append(doc)
    return corpus


def build_corpora(
    *,
    seed: int = 0,
    heldout: float = 0.2,
    max_file_bytes: int = 200_000,
    domains: tuple[str, ...] = DOMAINS,
    python_docs: bool = True,
) -> dict[str, DomainCorpus]:
    """The domain corpora, split by file (deterministic for a given ``seed`` and machine).

    ``python_docs`` adds the Python documentation sources to ``technical`` where ``setup.sh`` unpacked them.
    """
    if not 0 < heldout < 1:
        raise ValueError(f"heldout must be a fraction in (0, 1), got {heldout!r}")
    unknown = set(domains) - set(DOMAINS)
    if unknown:
        raise ValueError(f"unknown domains {sorted(unknown)}; known: {DOMAINS}")
    files = {
        "legal": _legal_files,
        "technical": lambda: _technical_files() + (_python_doc_files() if python_docs else []),
        "general": _fortune_files,
    }
    out = {}
    for name in domains:
        corpus = _split(name, files[name](), seed=seed, heldout=heldout, max_file_bytes=max_file_bytes)
        if name == "general":
            from hf_tokens.assets.text import load_text

            corpus.train.append(("jargon", load_text("jargon")[: max_file_bytes * 10]))
        if not corpus.train or not corpus.heldout:
            raise RuntimeError(f"domain {name!r} has no train or no held-out files on this machine")
        out[name] = corpus
    return out


def describe(corpora: dict[str, DomainCorpus]) -> list[str]:
    lines = [f"{'domain':<10} {'split':<8} {'files':>6} {'bytes':>11}"]
    for name, corpus in corpora.items():
        for split, stats in corpus.summary().items():
            lines.append(f"{name:<10} {split:<8} {stats['files']:>6} {stats['bytes']:>11,}")
    lines += [f"{name:<10} absent: {why}" for name, why in ABSENT.items()]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout", type=float, default=0.2, help="fraction of each domain's files held out")
    parser.add_argument("--max-file-bytes", type=int, default=200_000)
    parser.add_argument("--no-python-docs", action="store_true", help="leave the Python docs out of 'technical'")
    args = parser.parse_args()
    corpora = build_corpora(
        seed=args.seed, heldout=args.heldout, max_file_bytes=args.max_file_bytes, python_docs=not args.no_python_docs
    )
    print("\n".join(describe(corpora)))


if __name__ == "__main__":
    main()
