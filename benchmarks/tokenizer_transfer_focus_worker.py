"""FOCUS (Dobler & de Melo, EMNLP 2023, arXiv:2305.14481) as a tokenizer-transfer baseline, from its official package.

The peer library ``deepfocus`` 1.0.1 pins nothing but pulls ``fasttext`` (a C++ build), ``numba`` and
``fastdist``; it runs in its own interpreter (``.venv-focus``: ``python3 -m venv .venv-focus &&
.venv-focus/bin/pip install torch==2.13.0 transformers==5.25.0 deepfocus==1.0.1``). This file is both sides:

* run as a script (inside ``.venv-focus``) it is the worker: it loads the two tokenizers and the source embedding
  matrix, calls ``deepfocus.FOCUS`` with its default "fasttext-tokenlevel" auxiliary embeddings (a fastText CBOW
  model trained on the given text tokenized with the target tokenizer, the paper's method) and saves the
  ``[len(target_tokenizer), d]`` matrix FOCUS returns;
* imported by ``benchmarks/tokenizer_transfer.py`` it launches the worker (:func:`focus_matrix`) and wraps the
  result as an :class:`~hf_tokens.tokenizers.Initializer` (:class:`FocusRows`), so FOCUS's rows enter the model
  through the same ``transplant`` as every other arm (shared tokens keep their rows bit-exactly in every arm).

One deviation, for memory only: FOCUS computes the full cosine-similarity matrix between the new tokens' and the
overlapping tokens' fastText vectors at once (for Qwen3's 151k vocabulary against SmolLM2 about 100k x 30k float64,
tens of GB); the worker wraps the package's ``focus_additional_token_initialization`` so it is called on chunks of
new tokens. Every new token still gets the sparsemax-weighted convex combination over all overlapping tokens, so the
result is the same as one call.

Measured here (bench_results/tokenizer_transfer_baselines.json): FOCUS is close to random initialisation on these
targets, because its fastText auxiliary model is trained on the only target text available offline (4.2M characters
of fortunes and the Jargon File) with the package's default ``min_count=10``: of the 13,296 GPT-2 tokens SmolLM2 does
not share, 12,760 get no fastText vector and so FOCUS's random draw (counted on the cached fastText model of the run).
Ratios 3.09 / 7.25 / 3.16 on GPT-2 / Qwen3 / Mistral (random init in bench_results/tokenizer_transfer.json: 3.41 /
6.78 / 3.45). FOCUS is meant for a large target-language corpus; with one, most tokens would get the convex
combination instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FOCUS_PYTHON = Path(os.environ.get("HF_TOKENS_FOCUS_PYTHON", ROOT / ".venv-focus" / "bin" / "python"))


def _worker() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-tokenizer", required=True)
    parser.add_argument("--target-tokenizer", required=True)
    parser.add_argument("--embeddings", required=True, help="source input embeddings [V, d] saved with torch.save")
    parser.add_argument("--train-text", required=True, help="a .txt file of target-domain text, one document a line")
    parser.add_argument("--output", required=True)
    parser.add_argument("--chunk", type=int, default=4096, help="new tokens per similarity block")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import deepfocus
    import deepfocus.focus as focus_module
    from transformers import AutoTokenizer

    original = focus_module.focus_additional_token_initialization

    def chunked(overlapping: dict, new_tokens: dict, target_embeddings: Any, device: Any = None) -> Any:
        items = list(new_tokens.items())
        for start in range(0, len(items), args.chunk):
            block = dict(items[start : start + args.chunk])
            target_embeddings = original(overlapping, block, target_embeddings, device=device)
        return target_embeddings

    focus_module.focus_additional_token_initialization = chunked
    start = time.perf_counter()
    matrix = deepfocus.FOCUS(
        target_tokenizer=AutoTokenizer.from_pretrained(args.target_tokenizer),
        source_tokenizer=AutoTokenizer.from_pretrained(args.source_tokenizer),
        source_embeddings=torch.load(args.embeddings),
        auxiliary_embedding_mode="fasttext-tokenlevel",
        target_training_data_path=args.train_text,
        processes=args.threads,
        seed=args.seed,
        verbosity="silent",
    )
    torch.save(matrix.float().cpu(), args.output)
    print(json.dumps({"seconds": time.perf_counter() - start, "rows": int(matrix.shape[0])}))


def focus_matrix(
    model: Any, old_tokenizer: Any, new_tokenizer: Any, train_texts: Sequence[str], work: Path, *, threads: int = 1
) -> tuple[Any, float]:
    """FOCUS's ``[len(new_tokenizer), d]`` input-embedding matrix for ``model``, computed in ``.venv-focus``."""
    import torch

    if not FOCUS_PYTHON.is_file():
        raise FileNotFoundError(
            f"no FOCUS interpreter at {FOCUS_PYTHON}: python3 -m venv .venv-focus && .venv-focus/bin/pip install "
            "torch==2.13.0 transformers==5.25.0 deepfocus==1.0.1 (or set HF_TOKENS_FOCUS_PYTHON)"
        )
    work.mkdir(parents=True, exist_ok=True)
    old_tokenizer.save_pretrained(work / "source")
    new_tokenizer.save_pretrained(work / "target")
    torch.save(model.get_input_embeddings().weight.detach().float().cpu(), work / "embeddings.pt")
    text = work / "train.txt"  # one document a line, as FOCUS's fastText step reads it
    text.write_text("".join(" ".join(t.split()) + "\n" for t in train_texts if t.strip()), encoding="utf-8")
    cmd = [
        str(FOCUS_PYTHON), str(Path(__file__).resolve()), "--source-tokenizer", str(work / "source"),
        "--target-tokenizer", str(work / "target"), "--embeddings", str(work / "embeddings.pt"),
        "--train-text", str(text), "--output", str(work / "focus.pt"), "--threads", str(threads),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"FOCUS worker failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return torch.load(work / "focus.pt"), time.perf_counter() - start


def focus_rows_initializer(matrix: Any) -> Any:
    """An :class:`~hf_tokens.tokenizers.Initializer` that takes the missing tokens' rows from FOCUS's matrix."""
    from hf_tokens.tokenizers.transplantation import Initializer

    class FocusRows(Initializer):
        name = "focus"

        def initialize(self, ctx: Any, matrices: Sequence[Any]) -> list[Any]:
            if len(matrices) != 1:
                raise ValueError("FOCUS predicts input embeddings only: the model must have tied embeddings, no bias")
            if matrix.shape != (len(ctx.new_vocab), matrices[0].shape[1]):
                raise ValueError(f"FOCUS matrix {tuple(matrix.shape)} does not fit the new vocabulary")
            return [matrix[ctx.missing]]

    return FocusRows()


if __name__ == "__main__":
    sys.exit(_worker())
