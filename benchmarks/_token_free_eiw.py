"""Part ``eiw`` of benchmarks/token_free.py: LMs over neurally compressed text (arXiv:2404.03626).

M1, a tiny byte LM, is trained on one training split; a second split is then given to three M2 arms of the same
shape, steps, batch and sequence length in tokens (equal compute): raw bytes, equal-info windows (32-bit windows,
8-bit tokens) and plain arithmetic coding (64-byte chunks, 8-bit tokens). Held-out bits per byte of M2 =
bits per token x tokens per byte; for a compressed arm, ``compressed_bits_per_byte`` is what an M2 that learned
nothing (uniform over 256 tokens) would score, so M2 below it means the compressed stream is learnable.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import torch
from _token_free_data import corpus

from hf_tokens.analysis.equal_info_windows import (
    EqualInfoWindowsConfig,
    EqualInfoWindowsTokenizer,
    arithmetic_code_tokens,
)
from hf_tokens.benchmarking import Benchmark
from hf_tokens.models.lm_training import TrainingBudget, stream_nll, tiny_llama, train_on_stream


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _bytes(texts: list[str]) -> bytes:
    return "".join(texts).encode("utf-8")


def _train(ids: list[int] | bytes, budget: TrainingBudget, seq_len: int, seed: int) -> Any:
    torch.manual_seed(seed)
    model = tiny_llama(256, hidden=64, layers=2, max_len=seq_len + 1)
    train_on_stream(model, torch.tensor(list(ids)), seq_len=seq_len, budget=budget)
    return model


def _bits_per_byte(model: Any, ids: list[int] | bytes, n_bytes: int, seq_len: int) -> float:
    nll = stream_nll(model, torch.tensor(list(ids)), seq_len=seq_len)
    return float(nll.mean()) / math.log(2) * len(ids) / n_bytes


def run(bench: Benchmark, args: argparse.Namespace) -> None:
    quick = args.quick
    steps = max(10, round((60 if quick else 300) * args.scale))
    budget = TrainingBudget(steps=steps, batch_size=16, seed=args.seed)
    seq_len = 128
    train, test = corpus(160_000 if quick else 480_000, 8_000 if quick else 24_000, seed=args.seed)
    m1_data, m2_data, test_data = _bytes(train[::2]), _bytes(train[1::2]), _bytes(test)
    bench.note(
        f"M1 and every M2: tiny Llama (hidden 64, 2 layers, vocab 256), {steps} steps x 16 windows of {seq_len} "
        f"ids; M1 trained on {len(m1_data)} bytes, M2 on another {len(m2_data)} bytes, held-out {len(test_data)} "
        "bytes (4 domains); EIW 32-bit windows of 8-bit tokens, AC 64-byte chunks of 8-bit tokens"
    )
    _log("training M1")
    m1 = _train(m1_data, budget, seq_len, args.seed)
    m1_bpb = _bits_per_byte(m1, test_data, len(test_data), seq_len)
    tok = EqualInfoWindowsTokenizer(m1, EqualInfoWindowsConfig(window_bits=32, token_bits=8, max_window_bytes=32))
    _log("compressing with equal-info windows")
    eiw_train, eiw_test = tok.encode(m2_data), tok.encode(test_data)
    probe = eiw_test.tokens[: 50 * tok.config.tokens_per_window]
    round_trip = tok.decode(probe) == test_data[: sum(eiw_test.window_bytes[:50])]
    _log("compressing with plain arithmetic coding")
    ac_train, _ = arithmetic_code_tokens(m1, m2_data)
    ac_test, ac_bits = arithmetic_code_tokens(m1, test_data)
    arms = {
        "bytes": (list(m2_data), list(test_data)),
        "eiw": (eiw_train.tokens, eiw_test.tokens),
        "ac": (ac_train, ac_test),
    }
    results = {}
    for name, (tr, te) in arms.items():
        _log(f"training M2 on {name} ({len(tr)} training tokens)")
        model = _train(tr, budget, seq_len, args.seed + 1)
        results[name] = _bits_per_byte(model, te, len(test_data), seq_len)
        _log(f"M2 {name}: {results[name]:.3f} bits/byte")
    rates = {"bytes": 8.0, "eiw": 8 * len(eiw_test.tokens) / len(test_data), "ac": 8 * len(ac_test) / len(test_data)}
    for name, bpb in results.items():
        bench.add(
            f"m2:{name}",
            "bits_per_byte",
            bpb,
            baseline="m2:bytes",
            baseline_value=results["bytes"],
            compressed_bits_per_byte=rates[name],
            tokens_per_byte=rates[name] / 8,
            learned_fraction=1 - bpb / rates[name],
        )
    bench.add("m1:bytes", "bits_per_byte", m1_bpb, note="the compressor itself (full 128-byte context)")
    bench.add(
        "eiw",
        "bytes_per_window",
        sum(eiw_test.window_bytes) / eiw_test.num_windows,
        round_trip_exact=bool(round_trip),
        ac_bits_per_byte=ac_bits / len(test_data),
    )
