"""PoNet vs an equal-size BERT-style transformer: forward time and peak memory at 512, 2k and 8k tokens.

Both encoders have the same width, depth, heads, feed-forward size and vocabulary (``--hidden`` 256, ``--layers``
4, 4 heads, ``--intermediate`` 1024) and random weights (time and memory do not depend on training); BERT runs
transformers' ``BertModel`` with sdpa attention (the baseline; on CPU its fused kernel does not store the
``[L, L]`` scores, so its memory stays near linear while its time grows quadratically), PoNet ``PoNetModel``.
Per length: the median of ``--repeats`` forward passes (batch 1, ``torch.no_grad``, both models interleaved in the
same process) and the peak of bytes allocated by torch during one forward
(``hf_tokens.benchmarking.peak_allocated_bytes``). Rows ``seconds@L`` / ``peak_mb@L`` per model with BERT at the
same length as baseline, and ``scaling`` rows: each model's time at a length over its time at the previous one (linear
scaling = the length ratio, e.g. 4x from 2k to 8k).

    PYTHONPATH=. python benchmarks/ponet.py --json bench_results/ponet_scaling.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from hf_tokens.benchmarking import Benchmark, add_common_args, peak_allocated_bytes, setup_torch
from hf_tokens.models.ponet.configuration import PoNetConfig
from hf_tokens.models.ponet.modeling import PoNetModel


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=1024)
    parser.add_argument("--segment-size", type=int, default=64)
    args = parser.parse_args(argv)
    if args.quick:
        args.lengths = [length for length in args.lengths if length <= 2048] or args.lengths[:1]
    args.repeats = args.repeats or (3 if args.quick else 5)
    if min(args.lengths) < 1 or args.repeats < 1:
        parser.error("--lengths and --repeats must be >= 1")
    return args


def build(args: argparse.Namespace) -> dict[str, Any]:
    from transformers import BertConfig, BertModel

    shared = {
        "vocab_size": 30522,
        "hidden_size": args.hidden,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "intermediate_size": args.intermediate,
        "max_position_embeddings": max(args.lengths),
    }
    torch.manual_seed(0)
    bert = BertModel(BertConfig(**shared), add_pooling_layer=False)
    bert.set_attn_implementation("sdpa")
    ponet = PoNetModel(PoNetConfig(**shared, segment_size=args.segment_size), add_pooling_layer=False)
    return {"bert-sdpa": bert.eval().to(args.device), "ponet": ponet.eval().to(args.device)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    setup_torch(args)
    models = build(args)
    sizes = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    bench = Benchmark("ponet_scaling", f"encoders {args.layers}x{args.hidden}, random weights", device=args.device)
    bench.note(f"parameters: {sizes}; batch 1, forward only, median of {args.repeats} runs")
    seconds: dict[str, dict[int, float]] = {name: {} for name in models}
    for length in args.lengths:
        ids = torch.randint(1000, 30000, (1, length), generator=torch.Generator().manual_seed(length)).to(args.device)
        runs: dict[str, list[float]] = {name: [] for name in models}
        peaks = {}
        with torch.no_grad():
            for name, model in models.items():
                model(input_ids=ids)  # warm-up
                peaks[name] = peak_allocated_bytes(lambda m=model, x=ids: m(input_ids=x), args.device) / 2**20
            for _ in range(args.repeats):
                for name, model in models.items():
                    start = time.perf_counter()
                    model(input_ids=ids)
                    runs[name].append(time.perf_counter() - start)
        for name in models:
            seconds[name][length] = statistics.median(runs[name])
            spread = (max(runs[name]) - min(runs[name])) / 2
            bench.add(
                name,
                f"seconds@{length}",
                seconds[name][length],
                baseline="bert-sdpa",
                baseline_value=seconds["bert-sdpa"][length],
                spread=spread,
            )
            bench.add(name, f"peak_mb@{length}", peaks[name], baseline="bert-sdpa", baseline_value=peaks["bert-sdpa"])
        print(f"{length}: " + ", ".join(f"{n} {seconds[n][length]:.3f}s {peaks[n]:.0f}MB" for n in models))
    for name in models:
        for short, long in zip(args.lengths, args.lengths[1:]):
            bench.add(
                name,
                f"scaling {short}->{long}",
                seconds[name][long],
                baseline=f"{name}@{short}",
                baseline_value=seconds[name][short],
                length_ratio=long / short,
            )
    return bench.finish(args.json)


if __name__ == "__main__":
    main()
