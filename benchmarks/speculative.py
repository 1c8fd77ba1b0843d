"""Speculative decoding inside ``model.generate`` against plain greedy ``generate``, every method on the same
linear kernel: Token Recycling, ADED, DySpec, transformers' prompt lookup and assisted decoding.

Design (what makes the comparison fair and the result general):

* Two kernel settings, both reported. ``stock``: PyTorch's own CPU linears everywhere (the tree methods run with
  ``onednn_linear=False``). ``oneDNN``: every call runs inside ``onednn_linears(model, min_rows=1)``, so every
  ``nn.Linear`` of every method (plain greedy, prompt lookup, assisted decoding and its draft, the tree methods and
  DySpec's draft) runs on oneDNN, one-row decoding steps included. Each method is compared with plain greedy on the
  same kernel; the oneDNN rows also give the ratio to stock greedy (what a user of plain ``generate`` has) and the
  method's own gain from the kernel.
* Prompts: ``--per-kind`` (5) prompts of each of five kinds (chat, code, summarise, extract, repetition) from
  :func:`hf_tokens.generation.tree.prompts.speculative_prompts`: 40 chat questions, passages of Python source, the
  Jargon File and licence texts, several instructions per kind. Per prompt, the speed-up is the median over
  repetitions of greedy seconds / method seconds, paired within a repetition (same prompt, same kernel, run back to
  back, so machine load hits both). Reported: every prompt's ratio, per-kind medians with n, and the median over
  prompts with a 95% bootstrap interval (prompts resampled within each kind), plus mean, min and max.
* Lossless: in the first repetition every output must equal plain greedy's output on the same kernel token for
  token; the script stops with an error otherwise. Whether oneDNN greedy equals stock greedy is recorded.
* Drafts: without ``--draft-model``, assisted decoding and DySpec use a truncated self-draft (``--draft-layers``
  layers of the target, sharing its modules); being far slower than greedy on CPU, they run on the first
  ``--slow-prompts`` prompts in the first repetition only. ``--draft-model NAME`` gives both a separate model (e.g.
  Qwen2.5-Coder-0.5B for the 1.5B target), checked to share the target's token ids, measured on every prompt; its
  linears are patched with the target's, so every model of every method runs on the same kernel.
* Step cost: seconds per target forward in plain greedy's seconds per token (draft forwards included), so that
  speed-up = tokens/step / step cost for the summed times; ``--kernels oneDNN`` measures one kernel only.
* ``--dtype bfloat16`` (with ``--kernels stock``: PyTorch's own bfloat16 CPU linears) halves the weights' memory,
  for machines that cannot hold a float32 target and draft; float32 is the default and the library's setting.
* Tokens/step: new tokens after the first / target forwards after the prompt's (1.0 for plain greedy).
* A long run can be cut short: after every prompt the raw measurements go to ``<--json>.partial`` and the result
  JSON and plot are rewritten from what is done; the same command resumes from the ``.partial`` file (deleted when
  the run completes; a file written with other settings is refused).

    OMP_NUM_THREADS=1 nohup python benchmarks/speculative.py --threads 1 --max-new-tokens 32 --repeats 1 \\
        --json bench_results/speculative.json --plot bench_results/speculative.png > logs/speculative.log &
        # the committed run: 49 min on 1 thread of the 2-core machine at load 15 (64 tokens x 2 repetitions: ~3 h)
    python benchmarks/speculative.py --quick            # < 5 min on 2 cores
    OMP_NUM_THREADS=1 python benchmarks/speculative.py --model qwen2.5-coder-1.5b --draft-model qwen2.5-coder-0.5b \
        --dtype bfloat16 --kernels stock --per-kind 1 --max-new-tokens 32 --repeats 1 \
        --json bench_results/speculative_qwen.json --plot bench_results/speculative_qwen.png
        # the committed Qwen run (36 min at load 15-48); float32 on oneDNN: --dtype float32 --kernels oneDNN (~10 GB)
    python benchmarks/speculative.py --device cuda      # same code on a GPU (stock kernel only)
    python benchmarks/speculative.py --calibrate        # per-level rank acceptance of Token Recycling (template)
    OMP_NUM_THREADS=1 python benchmarks/speculative.py --cost-curve 1,2,4,8,16,32,64,80 \\
        --json bench_results/speculative_cost.json   # forward cost vs tokens, both kernels, causal and tree mask
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._speculative_probes import calibrate, cost_curve
from benchmarks._speculative_runs import KERNELS, build_methods, run_once, speed_run, tree_method
from benchmarks._speculative_stats import rescore
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

__all__ = ["build_methods", "check_same_tokens", "main", "private_weights", "run_once", "tree_method"]


def private_weights(model: Any) -> Any:
    """Copy the weights into private memory: file-backed pages can be evicted (and re-read) under load."""
    import torch

    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            tensor.data = tensor.data.clone()
    return model


def check_same_tokens(model: Any, tokenizer: Any, draft: Any, draft_tokenizer: Any) -> None:
    """A separate draft must share the target's token ids: same vocabulary (token -> id), same special tokens,
    same head size (:func:`hf_tokens.generation.dyspec.check_draft`) and the same ids for the benchmark prompts."""
    from hf_tokens.generation.dyspec import check_draft
    from hf_tokens.generation.tree.prompts import speculative_prompts

    check_draft(model, draft)
    if tokenizer.get_vocab() != draft_tokenizer.get_vocab():
        raise SystemExit("--draft-model: its tokenizer maps tokens to other ids than the target's")
    special = ("eos_token_id", "pad_token_id")
    if [getattr(tokenizer, n) for n in special] != [getattr(draft_tokenizer, n) for n in special]:
        raise SystemExit("--draft-model: its eos/pad token ids differ from the target's")
    if speculative_prompts(tokenizer, 2) != speculative_prompts(draft_tokenizer, 2):
        raise SystemExit("--draft-model: its tokenizer encodes the benchmark prompts differently")


def main(argv: list[str] | None = None) -> None:
    parser = add_common_args(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    )
    parser.add_argument("--model", default="smollm2-135m", help="hf_tokens.assets.load_model name")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="new tokens per prompt (128; quick 32)")
    parser.add_argument("--per-kind", type=int, default=None, help="prompts per kind (5; quick 1)")
    parser.add_argument("--slow-prompts", type=int, default=None, help="prompts for the slow methods (5; quick 1)")
    parser.add_argument("--tree-size", type=int, default=None, help="Token Recycling tree size (its default)")
    parser.add_argument("--draft-layers", type=int, default=8, help="layers of the truncated self-draft")
    parser.add_argument("--draft-model", default=None, help="a separate draft (load_model name) for assisted/DySpec")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="weights (both models)")
    parser.add_argument("--kernels", choices=sorted(KERNELS), default="both", help="linear kernels measured (CPU)")
    parser.add_argument("--lookup-tokens", type=int, default=10, help="prompt_lookup_num_tokens of HF prompt lookup")
    parser.add_argument("--sweep", default=None, help="extra Token Recycling tree sizes, e.g. 4,12,16")
    parser.add_argument("--hot-start", action="store_true", help="add Token Recycling with a held-out warm matrix")
    parser.add_argument("--calibrate", action="store_true", help="print Token Recycling's per-level rank acceptance")
    parser.add_argument("--cost-curve", default=None, help="only measure forward cost for these sizes, e.g. 1,2,4,8")
    parser.add_argument("--rescore", type=Path, default=None, help="only recompute a result JSON's statistics")
    args = parser.parse_args(argv)
    if args.rescore:
        rescore(args.rescore, args.plot)
        return
    setup_torch(args)
    import torch

    from hf_tokens.assets import load_model
    from hf_tokens.generation.token_recycling import TokenRecyclingConfig

    args.max_new_tokens = args.max_new_tokens or (32 if args.quick else 128)
    args.per_kind = args.per_kind or (1 if args.quick else 5)
    args.slow_prompts = args.slow_prompts if args.slow_prompts is not None else (1 if args.quick else 5)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.tree_size = args.tree_size or TokenRecyclingConfig().tree_size
    if args.dtype != "float32" and args.kernels != "stock":
        raise SystemExit("--dtype bfloat16 needs --kernels stock: the oneDNN switch reroutes float32 linears only")

    model, tokenizer = load_model(args.model, dtype=getattr(torch, args.dtype))
    model = private_weights(model.to(args.device))
    draft = None
    if args.draft_model:
        draft, draft_tokenizer = load_model(args.draft_model, dtype=getattr(torch, args.dtype))
        draft = private_weights(draft.to(args.device))
        check_same_tokens(model, tokenizer, draft, draft_tokenizer)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    if args.calibrate:
        calibrate(model, tokenizer, args)
    elif args.cost_curve:
        bench = Benchmark("speculative_cost", args.model, device=args.device, quick=args.quick)
        bench.note(f"torch threads = {torch.get_num_threads()}; the 2-core machine was shared with other jobs")
        cost_curve(model, bench, [int(s) for s in args.cost_curve.split(",")], args.repeats * 3)
        bench.finish(args.json)
    else:
        speed_run(model, tokenizer, args, sync, draft)


if __name__ == "__main__":
    main()
