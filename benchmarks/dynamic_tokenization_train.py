"""Train an embedding hypernetwork for dynamic-token prefilling of the bundled SmolLM2-135M, within a CPU budget.

Each step merges the prefixes of ``--batch-texts`` offline texts with batch-level BPE (a target length reduction
drawn from ``--reductions``), predicts the merged tokens' input embeddings and trains on SmolLM2's next-token loss on
the original ids of the first ``--loss-texts`` prefixes and their continuations (see
:mod:`hf_tokens.tokenizers.dynamic.training`). The hypernetwork starts as mean initialisation (a fresh
``ZettHypernetwork``, the architecture and seed of ``benchmarks/zett_train.py``) or from ``--init``; the evaluation
chunks of ``benchmarks/dynamic_tokenization.py`` and ``benchmarks/tokenizer_transfer.py`` are cut out of the training
text. It is saved with ``save_for_hub`` into a git-ignored folder; evaluate it with
``benchmarks/dynamic_tokenization.py --hypernetwork OUT``. The committed run (same corpora, seed and step count as
the multilingual ZeTT hypernetwork, ``bench_results/zett_train_multi.json``):

    python benchmarks/dynamic_tokenization_train.py --threads 2 --steps 274 --seconds 4000 \
        --corpora python-stdlib,fortunes,jargon,licenses,man-de,man-fr --out .cache/dyn-prefill-smollm2 \
        --json bench_results/dynamic_tokenization_train.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--steps", type=int, default=274, help="at most this many steps (one merged batch each)")
    parser.add_argument("--seconds", type=float, default=4000.0, help="CPU budget: stop after this wall time")
    parser.add_argument("--out", type=Path, default=Path(".cache/dyn-prefill-smollm2"), help="where it is saved")
    parser.add_argument("--init", type=Path, default=None, help="start from this saved ZeTT hypernetwork")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hypernetwork init and the sampling")
    parser.add_argument("--batch-texts", type=int, default=8, help="texts merged together per step")
    parser.add_argument("--loss-texts", type=int, default=4, help="texts of each batch in the loss")
    parser.add_argument("--reductions", default="0.1,0.3", help="range of the per-step target length reduction")
    parser.add_argument("--no-prefix-loss", action="store_true", help="train on the continuation tokens only")
    parser.add_argument("--lr", type=float, default=3e-4, help="AdamW (peak) learning rate")
    parser.add_argument("--schedule", default="constant", help="lr after warm-up: constant, linear or cosine decay")
    parser.add_argument("--warmup", type=float, default=0.0, help="fraction of the run with linear lr warm-up")
    parser.add_argument(
        "--corpora", default="python-stdlib,fortunes,jargon,licenses",
        help="comma-separated hf_tokens.assets.text corpora the texts are drawn from",
    )  # fmt: skip
    args = parser.parse_args()
    setup_torch(args)
    if args.quick:
        args.steps, args.seconds = min(args.steps, 4), min(args.seconds, 120.0)
    try:
        low, high = (float(x) for x in args.reductions.split(","))
    except ValueError:
        parser.error(f"--reductions must be two numbers 'low,high', got {args.reductions!r}")

    from zett_train import evaluation_chunks, loss_ends

    from hf_tokens.assets import load_model
    from hf_tokens.hub import save_for_hub
    from hf_tokens.tokenizers.dynamic.training import DynamicPrefillTrainingConfig, train_for_prefill
    from hf_tokens.tokenizers.zett import ZettHypernetwork, load_hypernetwork

    model, tok = load_model("smollm2-135m")
    if args.init is not None:
        net = load_hypernetwork(args.init)
    else:
        net = ZettHypernetwork.for_model(model, tok, seed=args.seed)
        net.config.base_model = "smollm2-135m"
    config = DynamicPrefillTrainingConfig(
        steps=args.steps, seconds=args.seconds, batch_texts=args.batch_texts, loss_texts=args.loss_texts,
        reduction_min=low, reduction_max=high, prefix_loss=not args.no_prefix_loss, lr=args.lr,
        schedule=args.schedule, warmup=args.warmup,
        corpora=tuple(args.corpora.split(",")), seed=args.seed,
    )  # fmt: skip
    held_out = evaluation_chunks(config.corpora)

    def log(row: dict[str, float]) -> None:
        if int(row["step"]) % 10 == 0:
            print(
                f"step {int(row['step']):5d}  loss {row['loss']:.3f}  lm {row['lm']:.3f}  aux {row['aux']:.4f}  "
                f"reduction {row['reduction']:.2f}  new {int(row['new'])}  {row['seconds']:.0f} s",
                flush=True,
            )

    history = train_for_prefill(net, model, tok, config, held_out=held_out, log=log)
    k, first, last = loss_ends(history)
    name = "SmolLM2-135M-Instruct (dequantized Q4_1)"
    bench = Benchmark("dynamic_tokenization_train", name, args.device, args.quick)
    bench.note(f"{len(history)} steps in {history[-1]['seconds']:.0f} s at {args.threads} thread(s); budget flags")
    bench.note(
        f"{'continued from ' + str(args.init) if args.init else 'from mean initialisation'} (seed {args.seed}); "
        f"corpora {', '.join(config.corpora)}; {len(held_out)} evaluation chunks held out"
    )
    bench.note(
        f"recipe: {config.batch_texts} texts of {config.prefix_chars} chars merged per step to a length reduction in "
        f"[{low}, {high}], loss on {config.loss_texts} of them ("
        + ("prefix and " if config.prefix_loss else "")
        + f"{config.cont_tokens} continuation tokens), aux loss on {config.aux_tokens} original tokens (weight "
        f"{config.aux_weight}), AdamW lr {config.lr} ({config.schedule})"
    )
    bench.add(
        "dynamic:train-lm-loss", "lm_loss", last, baseline=f"first {k} steps", baseline_value=first,
        steps=len(history),
    )  # fmt: skip
    data = bench.finish(args.json)
    save_for_hub(
        net, args.out, method_id="dynamic-tokenization", kind="tokenizer", config=config, overwrite=True,
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        description=(
            "An embedding hypernetwork (ZeTT architecture) trained for dynamic-token prefilling of SmolLM2-135M: "
            "pass `hf_tokens.tokenizers.zett.load_hypernetwork(path)` as the predictor of "
            "`hf_tokens.tokenizers.dynamic.continuation_nll` or `predicted_rows`. Its output embeddings are not "
            "trained for generation over a dynamic vocabulary."
        ),
        metrics=data["rows"],
    )  # fmt: skip
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
