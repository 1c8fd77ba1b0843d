"""Cut Cross-Entropy: memory and time of the loss forward + backward vs materialised logits and the peer libraries.

For each (tokens, hidden, vocab) the loss ``CE(hidden @ W.T, labels)`` and its gradients w.r.t. ``hidden`` and ``W``
are computed by

* ``torch``: ``F.cross_entropy(hidden @ W.T, labels)`` (the baseline every ratio is relative to),
* ``hf_tokens``: ``linear_cross_entropy`` (CPU: the pure-PyTorch path, which for a float32 loss with gradients
  forms the gradients in the forward, ``fused_loss.py``; ``--device cuda``: the Triton kernel),
* ``apple-cce``: Apple's ``cut_cross_entropy`` (CPU: ``impl="torch_compile"``, its only CPU path; CUDA: ``"cce"``),
* ``liger``: Liger's fused linear cross-entropy (CUDA only: on CPU it runs only in the Triton interpreter, far too
  slowly for these shapes; its loss is checked against torch at a small shape and noted).

Memory: the peak of bytes allocated by torch during forward + backward, relative to before the call. On CUDA that is
``torch.cuda.max_memory_allocated``; on CPU ``tracemalloc`` does not see torch's allocator and the RSS high-water
mark cannot be reset between methods, so we record every allocation/free of torch's CPU allocator with the profiler
(``profile_memory=True``) and take the peak of the running total (``hf_tokens.benchmarking.peak_allocated_bytes``).
Rows: ``peak_mb`` (everything, including the gradients of hidden and W that every method must return) and
``loss_mb`` = ``peak_mb`` minus those gradient tensors, i.e. the memory the loss computation itself needs (the
paper's "loss + gradient" overhead beyond the unavoidable outputs). Time: median wall-clock seconds of forward +
backward over ``--repeats`` runs (default 3 with ``--quick``, else 5) after the profiled one, all methods in the
same process with their repetitions interleaved (torch, ours, peers, torch, ...), so load from other processes
affects every method alike; the rows' ``spread`` is half the range of the runs, ``runs`` lists them. On CPU the
``cpu_seconds`` rows add the process CPU time of the same runs (all threads), which a time-shared machine inflates
far less than wall-clock time. With ``--json`` the file is rewritten after every shape (marked partial in its notes
until the run ends), so an interrupted run keeps the shapes it finished.

    python benchmarks/linear_cross_entropy.py --quick --vocab 49152 128256 256000 --repeats 5 \
        --json bench_results/linear_cross_entropy.json
    python benchmarks/linear_cross_entropy.py --quick --threads 2 --vocab 128256 49152 256000 --repeats 5 --no-liger \
        --json bench_results/linear_cross_entropy_2threads.json
    python benchmarks/linear_cross_entropy.py --device cuda --json bench_results/linear_cross_entropy_cuda.json
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

FULL = {"tokens": [2048, 8192], "hidden": [576, 2048], "vocab": [49152, 128256, 256000]}
QUICK = {"tokens": [2048], "hidden": [576], "vocab": [49152, 128256]}


def _methods(device: str) -> dict[str, Callable]:
    import torch.nn.functional as F

    from hf_tokens.ops.linear_cross_entropy import linear_cross_entropy

    impl = "triton" if device.startswith("cuda") else "reference"
    methods: dict[str, Callable] = {
        "torch": lambda h, w, y: F.cross_entropy((h @ w.T).float(), y),
        "hf_tokens": lambda h, w, y: linear_cross_entropy(h, w, y, impl=impl),
    }
    try:
        from cut_cross_entropy import linear_cross_entropy as apple

        apple_impl = "cce" if device.startswith("cuda") else "torch_compile"
        methods["apple-cce"] = lambda h, w, y: apple(h, w, y, impl=apple_impl)
    except ImportError:
        pass
    if device.startswith("cuda"):
        try:
            from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss

            liger = LigerFusedLinearCrossEntropyLoss()
            methods["liger"] = lambda h, w, y: liger(w, h, y)
        except ImportError:
            pass
    return methods


def _check_liger_in_interpreter(bench: Benchmark) -> None:
    """On CPU, Liger's kernel runs only under TRITON_INTERPRET=1 (set before triton loads); check it at 256 x 4096."""
    import os
    import subprocess

    code = (
        "import torch, torch.nn.functional as F\n"
        "from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss as L\n"
        "torch.manual_seed(0); h=torch.randn(256,64); w=torch.randn(4096,64)/8; y=torch.randint(0,4096,(256,))\n"
        "print(abs(L()(w,h,y).item()-F.cross_entropy(h@w.T,y).item()))\n"
    )
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        diff = float(out.stdout.strip().splitlines()[-1])
        bench.note(
            f"liger: runs on CPU only in the Triton interpreter; loss at 256x4096 differs from torch by {diff:.2e}"
        )
    except Exception as exc:
        bench.note(f"liger: not runnable on CPU here ({type(exc).__name__})")


def _measure_config(
    bench: Benchmark, args: argparse.Namespace, methods: dict[str, Callable], warmed: set[str], shape: tuple, dtype
) -> None:
    """Every method at one (tokens, hidden, vocab): a profiled run for peak memory, then interleaved timed runs."""
    import torch

    from hf_tokens.benchmarking import peak_allocated_bytes

    n, hdim, vocab = shape
    gen = torch.Generator(device="cpu").manual_seed(0)
    h = torch.randn(n, hdim, generator=gen).to(args.device, dtype).requires_grad_(True)
    w = (torch.randn(vocab, hdim, generator=gen) / hdim**0.5).to(args.device, dtype).requires_grad_(True)
    y = torch.randint(0, vocab, (n,), generator=gen).to(args.device)
    grads_mb = (h.numel() + w.numel()) * h.element_size() / 2**20
    need_gb = 3 * n * vocab * 4 / 2**30  # logits, their gradient and the softmax, float32
    label = f"N={n} H={hdim} V={vocab}"
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    peaks: dict[str, float] = {}
    steps: dict[str, Callable[[], None]] = {}
    ref_loss = None
    for name, fn in methods.items():
        if name in ("torch", "apple-cce") and args.device == "cpu" and need_gb > args.max_gb:
            bench.note(f"{name} skipped at {label}: needs ~{need_gb:.0f} GB > --max-gb {args.max_gb}")
            continue
        losses: list[torch.Tensor] = []

        def step(fn: Callable = fn, losses: list = losses) -> None:
            h.grad = w.grad = None
            loss = fn(h, w, y)
            loss.backward()
            losses.append(loss.detach())

        try:
            if name not in warmed:
                step()  # compilation (torch.compile, Triton) happens once per method, outside the rows
                warmed.add(name)
            h.grad = w.grad = None
            gc.collect()
            peaks[name] = peak_allocated_bytes(step, args.device) / 2**20
        except Exception as exc:  # a failing peer library is reported, not fatal
            bench.note(f"{name} failed at {label}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        steps[name] = step
        loss = float(losses[-1])
        if ref_loss is None:
            ref_loss = loss
        elif abs(loss - ref_loss) > 1e-2 * max(1.0, abs(ref_loss)):
            bench.note(f"{name} loss {loss:.5f} differs from {next(iter(peaks))} {ref_loss:.5f} at {label}")
    times: dict[str, dict[str, list[float]]] = {name: {"seconds": [], "cpu_seconds": []} for name in steps}
    for _ in range(args.repeats):  # interleaved, so that load from other processes hits every method alike
        for name, timed in steps.items():
            h.grad = w.grad = None
            gc.collect()
            if sync:
                sync()
            wall, cpu = time.perf_counter(), time.process_time()
            timed()
            if sync:
                sync()
            times[name]["seconds"].append(time.perf_counter() - wall)
            times[name]["cpu_seconds"].append(time.process_time() - cpu)
    metrics = ("loss_mb", "peak_mb", "seconds") + (("cpu_seconds",) if sync is None else ())
    results = {
        name: {"peak_mb": peaks[name], "loss_mb": max(peaks[name] - grads_mb, 0.0)}
        | {metric: median(values) for metric, values in times[name].items()}
        for name in steps
    }
    for name, r in results.items():
        listed = ", ".join(f"{t:.2f}" for t in times[name]["seconds"])
        print(f"{label} {name}: peak {r['peak_mb']:.0f} MB, loss {r['loss_mb']:.0f} MB, {r['seconds']:.3f} s "
              f"(runs: {listed}), cpu {r['cpu_seconds']:.3f} s", flush=True)  # fmt: skip
    base = results.get("torch")
    for name, r in results.items():
        for metric in metrics:
            runs = times[name].get(metric)
            bench.add(
                name, f"{metric} {label}", r[metric], baseline="torch" if base else None,
                baseline_value=base[metric] if base else None, spread=(max(runs) - min(runs)) / 2 if runs else None,
                tokens=n, hidden=hdim, vocab=vocab, dtype=str(dtype), **({"runs": runs} if runs else {}),
            )  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    import torch

    grid = QUICK if args.quick else FULL
    tokens = args.tokens or grid["tokens"]
    hiddens = args.hidden or grid["hidden"]
    vocabs = args.vocab or grid["vocab"]
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype or ("bf16" if args.device != "cpu" else "fp32")]
    args.repeats = args.repeats or (3 if args.quick else 5)
    model = f"synthetic lm head, {dtype}"
    bench = Benchmark("linear_cross_entropy", model=model, device=args.device, quick=args.quick)
    bench.note("memory: torch allocator peak during forward+backward (CPU: profiler allocation trace)")
    bench.note("loss_mb = peak_mb minus the gradients of hidden and W (outputs every method returns)")
    methods = _methods(args.device)
    # plain torch and the CPU reference need no compilation; the others warm up once, outside the measurements
    warmed: set[str] = {"torch", "hf_tokens"} if args.device == "cpu" else set()
    shapes = [(n, hdim, vocab) for n in tokens for hdim in hiddens for vocab in vocabs]
    for i, shape in enumerate(shapes):
        _measure_config(bench, args, methods, warmed, shape, dtype)
        gc.collect()
        if args.json and i + 1 < len(shapes):  # a killed run still leaves the finished shapes, marked partial
            _write_partial(bench, args.json, f"partial: {i + 1} of {len(shapes)} shapes measured")
    if args.device == "cpu" and not args.no_liger:
        _check_liger_in_interpreter(bench)
    data = bench.finish(args.json)
    if args.plot:
        _plot(bench, args.plot)
    return data


def _write_partial(bench: Benchmark, path: Path, note: str) -> None:
    """The rows so far, atomically, with ``note`` added (the final ``finish`` overwrites the file)."""
    import json
    import os

    data = bench.to_dict()
    data["notes"] = [*data["notes"], note]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _plot(bench: Benchmark, path: Path) -> None:
    from hf_tokens.benchmarking import plot_lines

    series: dict[str, tuple[list[float], list[float]]] = {}
    for row in bench.rows:
        if row["metric"].startswith("loss_mb"):
            xs, ys = series.setdefault(row["method"], ([], []))
            xs.append(row["vocab"])
            ys.append(row["value"])
    lines: dict[str, tuple[Sequence[float], Sequence[float]]] = dict(series)
    plot_lines(path, lines, xlabel="vocabulary size", ylabel="loss memory (MB)", title="Loss forward+backward memory")


def main(argv: list[str] | None = None) -> dict:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--tokens", type=int, nargs="+", help="override the token counts")
    parser.add_argument("--hidden", type=int, nargs="+", help="override the hidden sizes")
    parser.add_argument("--vocab", type=int, nargs="+", help="override the vocabulary sizes")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], help="default: fp32 on CPU, bf16 on CUDA")
    parser.add_argument("--max-gb", type=float, default=12.0, help="CPU: skip materialising methods above this")
    parser.add_argument("--no-liger", action="store_true", help="skip the interpreter check of Liger on CPU")
    args = parser.parse_args(argv)
    setup_torch(args)
    return run(args)


if __name__ == "__main__":
    main()
