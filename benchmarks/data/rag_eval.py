"""The shared retrieval/compression evaluation set of issue 17, built offline by a seeded script.

Corpus: technical documentation already on this machine: the DESCRIPTION of stdlib modules as ``pydoc`` renders
it, the plain-text READMEs under /usr/share/doc, and the long descriptions of installed Debian packages. Questions:
the paper's synthetic pipeline (:mod:`hf_tokens.pipelines.rag_token_metrics.synth`): an instruct LLM writes
question / evidence / answer for one passage per document, kept only when the evidence matches the document exactly.

    PYTHONPATH=. python benchmarks/data/rag_eval.py --commit     # Qwen2.5-Coder-1.5B, 96 pairs in 55 min, 1 thread

writes ``.cache/rag_eval/<name>.json`` (and with ``--commit``, ``benchmarks/data/rag_eval_qwen15.json``):
documents, the raw replies, the surviving pairs and the rejection counts. :func:`load_eval` reads the committed set
(57 of 96 pairs survive). The first set, written by Qwen2.5-Coder-0.5B (``--model qwen2.5-coder-0.5b --minutes 30``),
kept 11 of 64 pairs: too few for paired intervals, so it was retired (git history has it and its results).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "benchmarks" / "data" / "rag_eval_qwen15.json"
PYDOC_MODULES = (
    "json", "csv", "argparse", "logging", "pathlib", "itertools", "functools", "collections", "heapq", "bisect",
    "shutil", "tempfile", "subprocess", "threading", "queue", "socket", "ssl", "hashlib", "hmac", "secrets",
    "zipfile", "tarfile", "gzip", "sqlite3", "datetime", "calendar", "decimal", "fractions", "statistics",
    "random", "re", "string", "textwrap", "difflib", "unittest", "doctest", "pdb", "timeit", "trace", "pickle",
    "copy", "pprint", "enum", "dataclasses", "contextlib", "abc", "typing", "weakref", "gc", "inspect",
    "importlib", "zlib", "base64", "binascii", "struct", "codecs", "locale", "gettext", "optparse", "getopt",
    "configparser", "email", "smtplib", "urllib", "http", "html", "xml", "uuid", "ipaddress", "asyncio",
    "concurrent", "multiprocessing", "sched", "signal", "mmap", "select", "selectors", "os", "io", "time",
)  # fmt: skip
DOC_CHARS = 3000
MIN_DOC_CHARS = 500


def _clean(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\t", "    ").splitlines()]
    out = "\n".join(lines).strip()
    while "\n\n\n" in out:
        out = out.replace("\n\n\n", "\n\n")
    return out[:DOC_CHARS].rsplit("\n", 1)[0] if len(out) > DOC_CHARS else out


def _pydoc_docs() -> dict[str, str]:
    import importlib
    import pydoc

    docs = {}
    for name in PYDOC_MODULES:
        try:
            text = pydoc.render_doc(importlib.import_module(name), renderer=pydoc.plaintext)
        except Exception:
            continue
        if "\nDESCRIPTION\n" not in text:
            continue
        body = text.split("\nDESCRIPTION\n", 1)[1]
        body = body.split("\nPACKAGE CONTENTS\n")[0].split("\nCLASSES\n")[0].split("\nFUNCTIONS\n")[0]
        body = "\n".join(line[4:] if line.startswith("    ") else line for line in body.splitlines())
        docs[f"pydoc:{name}"] = f"Python module {name}\n\n{body}"
    return docs


def _readme_docs() -> dict[str, str]:
    docs = {}
    for path in sorted(Path("/usr/share/doc").glob("*/README*")):
        if path.suffix not in ("", ".gz", ".md", ".txt", ".Debian") and not path.name.endswith((".md.gz", ".txt.gz")):
            continue
        try:
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError, gzip.BadGzipFile):
            continue
        docs[f"readme:{path.parent.name}/{path.name}"] = text
    return docs


def _debian_docs() -> dict[str, str]:
    fmt = "${Package}\t${Description}\n@@END@@\n"
    out = subprocess.run(["dpkg-query", "-W", f"-f={fmt}"], capture_output=True, text=True, check=True).stdout
    docs = {}
    for record in out.split("@@END@@\n"):
        if "\t" not in record:
            continue
        name, desc = record.strip("\n").split("\t", 1)
        summary, _, body = desc.partition("\n")
        body = "\n".join("" if line.strip() == "." else line[1:] for line in body.splitlines())
        docs[f"debian:{name}"] = f"Debian package {name}: {summary}\n\n{body}"
    return docs


def build_corpus(n_docs: int, seed: int = 0) -> dict[str, str]:
    """``n_docs`` documents (id -> text), a seeded sample balanced over the three sources, long enough to ask about
    and deduplicated by text."""
    rng = random.Random(seed)
    per_source = []
    for source in (_pydoc_docs(), _readme_docs(), _debian_docs()):
        items = sorted((k, _clean(v)) for k, v in source.items())
        items = [(k, v) for k, v in items if len(v) >= MIN_DOC_CHARS]
        rng.shuffle(items)
        per_source.append(items)
    corpus: dict[str, str] = {}
    seen: set[str] = set()
    while len(corpus) < n_docs and any(per_source):
        for items in per_source:
            while items:
                key, text = items.pop()
                if text[:300] not in seen:
                    seen.add(text[:300])
                    corpus[key] = text
                    break
            if len(corpus) >= n_docs:
                break
    return corpus


def pick_passage(text: str, rng: random.Random, chars: int = 1200) -> tuple[int, str]:
    """A paragraph-aligned window of about ``chars`` characters of ``text`` and its start offset."""
    starts = [0] + [i + 2 for i in range(len(text)) if text.startswith("\n\n", i)]
    starts = [s for s in starts if s < max(1, len(text) - chars // 2)] or [0]
    start = rng.choice(starts)
    window = text[start : start + chars]
    if start + chars < len(text) and "\n" in window[chars // 2 :]:
        window = window[: window.rfind("\n")]
    return start, window.strip("\n")


def build(args: argparse.Namespace) -> dict:
    import torch

    from hf_tokens.assets import load_model
    from hf_tokens.pipelines.rag_token_metrics.synth import generate_replies, validate_pair

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    corpus = build_corpus(args.docs, args.seed)
    keys = list(corpus)
    targets = [keys[i % len(keys)] for i in range(args.pairs)]
    passages = [pick_passage(corpus[k], rng, args.passage_chars)[1] for k in targets]
    model, tokenizer = load_model(args.model)
    t0 = time.perf_counter()
    replies: list[str] = []
    for start in range(0, len(passages), args.batch_size):
        if time.perf_counter() - t0 > 60 * args.minutes:
            print(f"time budget of {args.minutes} min reached; stopping", file=sys.stderr)
            break
        batch = passages[start : start + args.batch_size]
        replies += generate_replies(model, tokenizer, batch, batch_size=args.batch_size, max_new_tokens=72)
        print(f"generated {len(replies)}/{len(passages)} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        write_partial(targets[: len(replies)], replies)
    seconds = time.perf_counter() - t0
    pairs, reasons = [], Counter()
    seen_q: set[str] = set()
    for key, reply in zip(targets, replies):
        result = validate_pair(key, corpus[key], reply)
        if isinstance(result, str):
            reasons[result] += 1
        elif result.question.lower() in seen_q:
            reasons["duplicate"] += 1
        else:
            seen_q.add(result.question.lower())
            pairs.append(result.to_dict())
    return {
        "generator": args.model,
        "seed": args.seed,
        "generated": len(replies),
        "budget_minutes": args.minutes,
        "survived": len(pairs),
        "rejected": dict(sorted(reasons.items())),
        "generation_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "documents": corpus,
        "pairs": pairs,
        "replies": [{"doc_id": k, "reply": r} for k, r in zip(targets, replies)],
    }


PARTIAL = ROOT / ".cache" / "rag_eval" / "partial_replies.json"


def write_partial(targets: list[str], replies: list[str]) -> None:
    """The replies so far (a run cut short keeps them for inspection)."""
    PARTIAL.parent.mkdir(parents=True, exist_ok=True)
    PARTIAL.write_text(json.dumps([{"doc_id": k, "reply": r} for k, r in zip(targets, replies)], indent=1))


def load_eval(path: Path = COMMITTED) -> dict:
    """The committed evaluation set: ``documents`` (id -> text) and ``pairs`` (validated question dicts)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; build it with `python benchmarks/data/rag_eval.py --commit`")
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=96, help="passages to ask the LLM about (pairs attempted)")
    parser.add_argument("--docs", type=int, default=120, help="documents in the corpus")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="generator (an hf_tokens.assets model)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--passage-chars", type=int, default=700, help="characters of each passage shown to the LLM")
    parser.add_argument("--minutes", type=float, default=55.0, help="generation budget (minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--commit", action="store_true", help=f"also write {COMMITTED.relative_to(ROOT)}")
    parser.add_argument("--out", type=Path, default=None, help="also write this path (another committed set)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    data = build(args)
    out = ROOT / ".cache" / "rag_eval" / f"{args.model}-{args.pairs}-{args.seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, ensure_ascii=False)
    out.write_text(text, encoding="utf-8")
    for path in ([COMMITTED] if args.commit else []) + ([args.out] if args.out else []):
        path.write_text(text, encoding="utf-8")
    print(f"{data['survived']}/{data['generated']} pairs survived validation {data['rejected']} -> {out}")


if __name__ == "__main__":
    main()
