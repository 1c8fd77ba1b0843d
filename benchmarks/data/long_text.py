"""The offline long-text classification set of issue 17 (long-text hacks): which manual section a man page is in.

Documents are the man pages installed under ``/usr/share/man`` (English only), rendered to plain text by ``groff``
(``-man -Tutf8``, no hyphenation, 200-column lines so a paragraph is one line); the header and footer lines, which
print the page's own section (``open(2)``), are removed, so the label is not in the text. Labels are the sections
1 (user commands), 2 (system calls), 3 (library functions), 5 (file formats) and 8 (administration commands).
Section 1's ``gcloud*`` pages (16k templated pages of one tool) are left out; pages that only include another
(``.so``) and exact duplicates are skipped. A page is kept when its text has ``--min-words`` to ``--max-words``
whitespace words (long: far beyond 128 tokens, most beyond 512), at most ``--per-class`` pages per section, drawn in
a seeded random order; the pages are then split per section into train / validation / test (50% / 20% / 30%).

    python benchmarks/data/long_text.py --per-class 100 --seed 0

writes ``benchmarks/data/long_text.json.gz``: ``{"source", "seed", "labels", "splits": {"train": [{"name",
"label", "text"}, ...], "validation": [...], "test": [...]}}``. :func:`load_long_text` reads it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "benchmarks" / "data" / "long_text.json.gz"
MAN = Path("/usr/share/man")
SECTIONS = ("1", "2", "3", "5", "8")
SPLITS = (("train", 0.5), ("validation", 0.2), ("test", 0.3))
_OWN_TITLE = re.compile(r"\([0-9][0-9a-zA-Z]*\)\s*$")


def render(path: Path) -> str:
    """Plain text of one man page (header and footer lines dropped, blank runs squeezed), '' if it fails."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if raw.lstrip().startswith(b".so "):
        return ""
    out = subprocess.run(
        ["groff", "-man", "-Tutf8", "-rHY=0", "-rLL=200n", "-P-cbou"],
        input=raw,
        capture_output=True,
        timeout=60,
    ).stdout.decode("utf-8", errors="replace")
    lines = [line.rstrip() for line in out.splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and _OWN_TITLE.search(lines[0]):
        lines.pop(0)
    if lines and _OWN_TITLE.search(lines[-1]):
        lines.pop()
    text = "\n".join(line.strip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def candidates(section: str) -> list[Path]:
    folder = MAN / f"man{section}"
    pages = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("gcloud"))
    return [p for p in pages if p.name.removesuffix(".gz").rsplit(".", 1)[-1].startswith(section)]


def build(per_class: int, seed: int, min_words: int, max_words: int) -> dict[str, Any]:
    rng = random.Random(seed)
    splits: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in SPLITS}
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for label, section in enumerate(SECTIONS):
        pages = candidates(section)
        rng.shuffle(pages)
        docs = []
        for path in pages:
            if len(docs) >= per_class:
                break
            text = render(path)
            n = len(text.split())
            digest = hashlib.sha256(text.encode()).hexdigest()
            if not min_words <= n <= max_words or digest in seen:
                counts[f"skipped:{section}"] += 1
                continue
            seen.add(digest)
            docs.append({"name": path.name, "label": label, "text": text})
        counts[f"kept:{section}"] = len(docs)
        start = 0
        for i, (name, share) in enumerate(SPLITS):
            end = len(docs) if i == len(SPLITS) - 1 else start + round(share * len(docs))
            splits[name] += docs[start:end]
            start = end
        print(f"section {section}: {len(docs)} pages ({counts[f'skipped:{section}']} skipped)", flush=True)
    for docs in splits.values():
        rng.shuffle(docs)
    return {
        "source": "man pages under /usr/share/man rendered by groff; label = manual section",
        "seed": seed,
        "min_words": min_words,
        "max_words": max_words,
        "labels": [f"section {s}" for s in SECTIONS],
        "counts": dict(counts),
        "splits": splits,
    }


def load_long_text(path: str | Path = COMMITTED) -> dict[str, Any]:
    """The committed set: ``{"labels": [...], "splits": {"train" | "validation" | "test": [{"text", "label"}]}}``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build it with `python benchmarks/data/long_text.py`")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100, help="pages per section (at most)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-words", type=int, default=400)
    parser.add_argument("--max-words", type=int, default=4000)
    parser.add_argument("--out", default=str(COMMITTED))
    args = parser.parse_args(argv)
    if args.per_class < 5 or args.min_words < 1 or args.max_words < args.min_words:
        raise SystemExit("--per-class must be >= 5 and 1 <= --min-words <= --max-words")
    data = build(args.per_class, args.seed, args.min_words, args.max_words)
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
    with open(args.out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:
        fh.write(payload)  # mtime=0: the same seed gives the same bytes
    sizes = {k: len(v) for k, v in data["splits"].items()}
    print(f"wrote {args.out}: {sizes}", file=sys.stderr)


if __name__ == "__main__":
    main()
