"""Weight quantization of SmolLM2-135M: full precision, RTN, GPTQ, QuaRot-style rotation + GPTQ, and RSQ.

Every arm runs the library's one code path (``hf_tokens.quantization.rsq.quantize_model``) with a different
``RSQConfig``: RTN (``algorithm="rtn"``), GPTQ (no rotation, uniform importance), QuaRot-style (Hadamard rotation,
uniform importance) and RSQ (Hadamard rotation, attention-concentration importance), on the *same* calibration ids
(``--samples`` sequences of ``--seq-len`` tokens at seeded offsets in the first 90% of ``--corpus``) and the same
rotation seed. Held-out perplexity: ``--eval-windows`` windows of ``--eval-len`` tokens from the last 10% of the
corpus (never seen in calibration), NLL averaged over every predicted token. Accuracy: a continuation-choice task
built from the held-out text after those windows (``--choice-items`` items: 48 tokens of context, the true 16-token
continuation and the continuations of 3 other items; the option with the highest log-likelihood is the answer).
The peer, llmcompressor's GPTQ, runs in its own environment (``--arms llmcompressor llmcompressor-static``) on the
same calibration ids; its quantize-dequantized weights are evaluated here with the same code.

Each arm runs in its own fresh process (spawned one after another), which loads the float model, measures its
float decode speed, quantizes (wall-clock seconds; ``peak_mb``: the process's peak resident memory, ``ru_maxrss``,
minus its resident memory just before quantizing; ``ru_maxrss`` also covers the model load's own transient peak, so
this is an upper bound of what quantization adds, noisy on a shared machine), saves with ``save_pretrained`` (size
on disk), evaluates perplexity, and
measures decode speed again (greedy ``generate`` of ``--decode-tokens`` tokens, median of ``--repeats``): the
``tok_s`` ratio is quantized / float measured in the same process. On CPU the quantized linears dequantize their
packed weights at every call (the PyTorch path), so they decode slower than float; the Triton kernel is the GPU path.

A run with ``--json`` keeps each finished arm in ``<json>.partial``: the same command, stopped part-way, resumes
after the last finished arm (the JSON notes which arms came from the earlier run; a ``.partial`` file of other
settings or data is refused).

    python benchmarks/quantization.py --json bench_results/quantization.json            # 4-bit g128, 3-bit g128
    python benchmarks/quantization.py --quick --json /tmp/q.json                         # a few minutes
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hf_tokens.benchmarking import Benchmark, PartialRun, add_common_args, digest, setup_torch

ARMS = {
    "rtn": {"algorithm": "rtn", "rotation": None, "importance": "uniform"},
    "gptq": {"algorithm": "gptq", "rotation": None, "importance": "uniform"},
    "quarot": {"algorithm": "gptq", "rotation": "hadamard", "importance": "uniform"},
    "rsq": {"algorithm": "gptq", "rotation": "hadamard", "importance": "attention_concentration"},
}
# the same three GPTQ arms with activation ordering (static groups), the setting of llmcompressor-static
ARMS.update({f"{arm}-static": {**ARMS[arm], "act_order": True} for arm in ("gptq", "quarot", "rsq")})
# the peer: llmcompressor's GPTQModifier (its own environment), with our settings (no activation ordering) and with
# its default static activation ordering; see quantization_llmcompressor_worker.py
PEERS = {"llmcompressor": "none", "llmcompressor-static": "static"}
CHOICE_CONTEXT, CHOICE_LEN = 48, 16  # tokens of context and of each option in the continuation-choice task
WORKER = Path(__file__).resolve().parent / "quantization_llmcompressor_worker.py"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _ppl(model: Any, windows: Any) -> float:
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for row in windows:
            ids = row[None].to(model.device)
            loss = model(input_ids=ids, labels=ids).loss
            total += float(loss) * (ids.shape[1] - 1)
            count += ids.shape[1] - 1
    return math.exp(total / count)


def _choice_accuracy(model: Any, contexts: Any, options: Any, answers: Any) -> float:
    """Share of items whose true continuation has the highest log-likelihood among the options."""
    import torch

    correct = 0
    with torch.no_grad():
        for ctx, opts, answer in zip(contexts, options, answers):
            ids = torch.cat([ctx.expand(opts.shape[0], -1), opts], dim=1).to(model.device)
            logp = model(input_ids=ids).logits[:, ctx.shape[0] - 1 : -1].float().log_softmax(-1)
            scores = logp.gather(-1, opts[..., None].to(model.device)).sum((1, 2))
            correct += int(scores.argmax()) == int(answer)
    return correct / len(answers)


def _quality(model: Any, evals: dict[str, Any]) -> dict[str, float]:
    """Perplexity and choice accuracy, with each quantized linear's weight dequantized once for the evaluation
    (``dequantized_weights``: identical numbers); decode speed is measured on the real per-call path."""
    from hf_tokens.quantization.rsq.modules import dequantized_weights

    with dequantized_weights(model):
        return {"ppl": _ppl(model, evals["windows"]), "choice_acc": _choice_accuracy(model, *evals["choice"])}


def _decode_tok_s(model: Any, prompt: Any, new_tokens: int, repeats: int) -> float:
    import torch

    times = []
    with torch.no_grad():
        model.generate(prompt, max_new_tokens=2, do_sample=False)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
            times.append(time.perf_counter() - start)
    return new_tokens / median(times)


def run_peer(arm: str, settings: dict[str, Any], calib: Any, evals: Any, opts: dict) -> dict[str, Any]:
    """llmcompressor's GPTQ on the same calibration ids, in its own interpreter; its quantize-dequantized weights are
    loaded into our float model and evaluated with the same perplexity code as every arm."""
    import json
    import subprocess

    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(opts["threads"])
    from hf_tokens.assets import load_model, model_folder

    with tempfile.TemporaryDirectory() as tmp:
        torch.save(calib, f"{tmp}/calib.pt")
        flags = {"--model-dir": model_folder(opts["model"]), "--calib": f"{tmp}/calib.pt", "--bits": settings["bits"],
                 "--output": f"{tmp}/w.safetensors", "--group-size": settings["group_size"], "--actorder": PEERS[arm],
                 "--threads": opts["threads"]}  # fmt: skip
        cmd = [opts["peer_python"], str(WORKER), *(str(x) for kv in flags.items() for x in kv)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{arm} worker failed ({done.returncode}): {done.stderr[-2000:]}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        weights = load_file(f"{tmp}/w.safetensors")
    model, _ = load_model(opts["model"])
    missing = set(weights) - set(model.state_dict())
    if missing or report["layers"] != len(weights):
        raise RuntimeError(f"{arm}: weights do not match the model ({sorted(missing)[:3]})")
    model.load_state_dict(weights, strict=False)
    return {"arm": arm, **_quality(model, evals), "quant_s": report["quant_s"], "versions": report["versions"]}


def run_arm(arm: str, settings: dict[str, Any], calib: Any, evals: Any, prompt: Any, opts: dict) -> dict[str, Any]:
    """One arm in a fresh process (see the module docstring)."""
    if arm in PEERS:
        return run_peer(arm, settings, calib, evals, opts)
    import torch

    torch.set_num_threads(opts["threads"])
    from hf_tokens.assets import load_model
    from hf_tokens.quantization.rsq import RSQConfig, quantize_model

    model, _ = load_model(opts["model"])
    model.to(opts["device"])
    out: dict[str, Any] = {"arm": arm}
    fp_tok_s = _decode_tok_s(model, prompt.to(model.device), opts["decode_tokens"], opts["repeats"])
    if arm == "fp32":
        out["tok_s"], out["fp_tok_s"] = fp_tok_s, fp_tok_s
        out.update(_quality(model, evals))
        folder = Path(tempfile.mkdtemp())
        model.save_pretrained(folder)
        out["disk_mb"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
        shutil.rmtree(folder)
        return out
    extra = {}
    if opts["importance_min"] is not None and ARMS[arm]["importance"] != "uniform":
        extra["importance_min"] = opts["importance_min"]
    config = RSQConfig(
        **settings, **ARMS[arm], num_samples=calib.shape[0], seq_len=calib.shape[1], seed=opts["seed"],
        clip_search=opts["grid"] == "mse", **extra,
    )  # fmt: skip
    before = _rss_mb()
    start = time.perf_counter()
    quantize_model(model, config, input_ids=calib, progress=opts["progress"])
    out["quant_s"] = time.perf_counter() - start
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    folder = Path(tempfile.mkdtemp())
    try:
        model.save_pretrained(folder)
        out["disk_mb"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
    finally:
        shutil.rmtree(folder)
    out.update(_quality(model, evals))
    out["tok_s"] = _decode_tok_s(model, prompt.to(model.device), opts["decode_tokens"], opts["repeats"])
    out["fp_tok_s"] = fp_tok_s
    return out


def _data(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    import torch

    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import load_text
    from hf_tokens.quantization.rsq import RSQConfig
    from hf_tokens.quantization.rsq.calibrate import CALIBRATION_SHARE, calibration_ids

    model, tokenizer = load_model(args.model)
    config = RSQConfig(calibration=args.corpus, num_samples=args.samples, seq_len=args.seq_len, seed=args.seed)
    calib = calibration_ids(config, model, tokenizer)
    text = load_text(args.corpus)
    held_out = text[int(len(text) * CALIBRATION_SHARE) :]
    ids = tokenizer(held_out, add_special_tokens=False)["input_ids"]
    need = args.eval_windows * args.eval_len
    span = CHOICE_CONTEXT + CHOICE_LEN
    if len(ids) < need + args.choice_items * span:
        raise SystemExit(
            f"held-out text has {len(ids)} tokens < {need + args.choice_items * span}: lower --eval-windows/--eval-len"
            "/--choice-items"
        )
    windows = torch.tensor(ids[:need]).view(args.eval_windows, args.eval_len)
    # continuation choice: after the perplexity windows, n disjoint spans of context + true continuation; the wrong
    # options are the true continuations of 3 other items (a fixed seeded derangement), so every option is real text
    spans = torch.tensor(ids[need : need + args.choice_items * span]).view(args.choice_items, span)
    contexts, truth = spans[:, :CHOICE_CONTEXT], spans[:, CHOICE_CONTEXT:]
    gen = torch.Generator().manual_seed(args.seed)
    shifts = torch.randperm(args.choice_items - 1, generator=gen)[:3] + 1
    answers = torch.randint(0, 4, (args.choice_items,), generator=gen)
    options = torch.stack([truth.roll(int(s), 0) for s in shifts], dim=1)  # [n, 3, K] wrong continuations
    options = torch.cat([options, truth[:, None]], dim=1)  # the true one last, then moved to its answer slot
    order = torch.stack([torch.tensor([*(j for j in range(4) if j != a), int(a)]) for a in answers])
    options = torch.empty_like(options).scatter_(1, order[..., None].expand_as(options), options)
    evals = {"windows": windows, "choice": (contexts, options, answers)}
    prompt = torch.tensor([tokenizer("The Jargon File is", add_special_tokens=False)["input_ids"]])
    return calib, evals, prompt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--bits", type=int, nargs="+", default=[4, 3])
    parser.add_argument("--group-size", type=int, nargs="+", default=[128], help="-1 = per-channel")
    parser.add_argument(
        "--arms",
        nargs="+",
        default=["rtn", "gptq", "quarot", "rsq"],
        choices=[*ARMS, *PEERS],
        help="-static: the same arm with activation ordering (static groups)",
    )
    parser.add_argument(
        "--llmcompressor-python",
        default=os.environ.get("HF_TOKENS_LLMCOMPRESSOR_PYTHON", ".venv-llmcompressor/bin/python"),
        help="interpreter with llmcompressor installed (python3 -m venv .venv-llmcompressor && "
        ".venv-llmcompressor/bin/pip install torch==2.13.0 llmcompressor==0.14.0.1); used by the llmcompressor arms",
    )
    parser.add_argument("--corpus", default="jargon")
    parser.add_argument("--samples", type=int, default=None, help="calibration sequences (default 64, quick 16)")
    parser.add_argument("--seq-len", type=int, default=None, help="calibration tokens per sequence (512; quick 256)")
    parser.add_argument("--eval-windows", type=int, default=None, help="held-out windows (default 24, quick 8)")
    parser.add_argument("--eval-len", type=int, default=512)
    parser.add_argument("--decode-tokens", type=int, default=16)
    parser.add_argument("--choice-items", type=int, default=None, help="continuation-choice items (200; quick 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--grid", choices=["mse", "minmax"], default="mse",
        help="weight grids of our arms: mse = RSQConfig(clip_search=True), the official runs' --w_clip (default); "
        "minmax = plain min-max grids, like llmcompressor's default observer (for checking our GPTQ against it)",
    )  # fmt: skip
    parser.add_argument(
        "--importance-min", type=float, default=None,
        help="RSQConfig.importance_min of the RSQ arms (default: the config's, 0.005; the official script's search "
        "range is 0.1 ... 0.005)",
    )  # fmt: skip
    parser.add_argument("--progress", action="store_true", help="progress bars of the quantization")
    args = parser.parse_args(argv)
    args.samples = args.samples or (16 if args.quick else 64)
    args.seq_len = args.seq_len or (256 if args.quick else 512)
    args.eval_windows = args.eval_windows or (8 if args.quick else 24)
    args.choice_items = args.choice_items or (50 if args.quick else 200)
    args.repeats = args.repeats or (1 if args.quick else 3)
    return args


def run_key(args: argparse.Namespace, calib: Any, evals: dict[str, Any]) -> dict[str, Any]:
    """What every arm's result depends on: a ``.partial`` file (finished arms) from other settings is refused."""
    names = ("model", "device", "threads", "seed", "decode_tokens", "repeats", "grid", "importance_min", "eval_len")
    return {"data": digest(calib, evals["windows"], *evals["choice"]), **{n: getattr(args, n) for n in names}}


def main() -> None:
    args = parse_args()
    setup_torch(args)
    calib, evals, prompt = _data(args)
    bench = Benchmark("quantization", args.model, device=args.device, quick=args.quick)
    bench.note(
        f"calibration: {args.samples} x {args.seq_len} tokens of {args.corpus} (first 90%); held-out ppl: "
        f"{args.eval_windows} x {args.eval_len} tokens of its last 10%; seed {args.seed}; CPU budget: "
        f"{args.threads} thread(s); decode: {args.decode_tokens} greedy tokens, median of {args.repeats}; our grids: "
        f"{args.grid}; RSQ importance minimum: {args.importance_min or 'default'}; RSQConfig defaults otherwise "
        "(importance range, online Hadamard)"
    )
    opts = {
        "model": args.model,
        "device": args.device,
        "threads": args.threads,
        "seed": args.seed,
        "decode_tokens": args.decode_tokens,
        "repeats": args.repeats,
        "progress": args.progress,
        "grid": args.grid,
        "importance_min": args.importance_min,
        "peer_python": args.llmcompressor_python,
    }
    if any(arm in PEERS for arm in args.arms):
        if not Path(args.llmcompressor_python).exists():
            raise SystemExit(f"--llmcompressor-python {args.llmcompressor_python} does not exist (see --help)")
        from transformers import AutoConfig

        from hf_tokens.assets import model_folder

        text = AutoConfig.from_pretrained(model_folder(args.model)).get_text_config()
        widths = (text.hidden_size, text.intermediate_size)
        if any(g != -1 and any(w % g for w in widths) for g in args.group_size):
            raise SystemExit(f"llmcompressor needs group sizes dividing {args.model}'s {widths} input columns (or -1)")
    jobs = [("fp32", {})] + [
        (arm, {"bits": b, "group_size": g}) for b in args.bits for g in args.group_size for arm in args.arms
    ]
    results = []
    ctx = get_context("spawn")
    partial = PartialRun(args.json, run_key(args, calib, evals))  # a stopped run resumes from its finished arms
    for arm, settings in jobs:
        name = f"{arm}@{settings.get('bits')}/{settings.get('group_size')}"
        res = partial.get(name)
        if res is None:
            with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                res = pool.submit(run_arm, arm, settings, calib, evals, prompt, opts).result()
            partial.put(name, res)
        else:
            bench.note(f"{name}: measured by an earlier, stopped run of this command (kept in {partial.path})")
        results.append((arm, settings, res))
        print(f"done {arm} {settings}: {res}", flush=True)
    fp = results[0][2]
    bench.add("fp32", "ppl", fp["ppl"])
    bench.add("fp32", "choice_acc", fp["choice_acc"], items=len(evals["choice"][2]))
    bench.add("fp32", "disk_mb", fp["disk_mb"])
    bench.add("fp32", "tok_s", fp["tok_s"])
    for arm, settings, res in results[1:]:
        tag = f"{arm}@w{settings['bits']}" + ("pc" if settings["group_size"] == -1 else f"g{settings['group_size']}")
        bench.add(tag, "ppl", res["ppl"], baseline="fp32", baseline_value=fp["ppl"])
        bench.add(
            tag, "choice_acc", res["choice_acc"], baseline="fp32", baseline_value=fp["choice_acc"],
            items=len(evals["choice"][2]),
        )  # fmt: skip
        static = "-static" if arm.endswith("-static") else ""
        for base in ("gptq", "quarot"):  # the paper's ordering: RSQ < QuaRot-style < GPTQ (same act-order setting)
            other = next((r for a, s, r in results if a == base + static and s == settings), None)
            stem = arm.removesuffix(static)
            if other is None or stem in ("rtn", base) or (base, stem) == ("quarot", "gptq"):
                continue
            if arm in PEERS:  # our GPTQ against the peer's, same settings
                if base == "gptq":
                    bench.add(tag, "gptq_ppl_vs_peer", other["ppl"], baseline=f"{arm} GPTQ", baseline_value=res["ppl"])
                continue
            ours = f"{base}{static} (ours)"
            bench.add(tag, f"ppl_vs_{base}", res["ppl"], baseline=ours, baseline_value=other["ppl"])
        bench.add(tag, "quant_s", res["quant_s"])
        if arm in PEERS:
            bench.note(f"{tag}: llmcompressor GPTQModifier (actorder {PEERS[arm]}), {res['versions']}")
            continue
        bench.add(tag, "peak_mb", res["peak_mb"])
        bench.add(tag, "disk_mb", res["disk_mb"], baseline="fp32", baseline_value=fp["disk_mb"])
        bench.add(tag, "tok_s", res["tok_s"], baseline="fp32 (same process)", baseline_value=res["fp_tok_s"])
    bench.finish(args.json)
    partial.finish()


if __name__ == "__main__":
    main()
