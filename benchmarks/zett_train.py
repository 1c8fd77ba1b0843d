"""Train a ZeTT hypernetwork for the bundled SmolLM2-135M on a stream of sampled tokenizers, within a CPU budget.

Each step fits a UnigramLM (noisy scores) or BPE tokenizer of 4k-16k tokens to ``--fit-texts`` offline texts
(hf_tokens.assets.text), predicts the embeddings of the tokens it does not share with SmolLM2's tokenizer (shared ones
keep their rows, as a transplant does) and trains on SmolLM2's next-token loss on the first 4 texts plus the auxiliary
loss (see :mod:`hf_tokens.tokenizers.zett.training`). The hypernetwork is saved with ``save_for_hub`` (card included)
into a git-ignored folder; the loss curve summary goes to ``--json``. The committed run (45 CPU-minutes):

    python benchmarks/zett_train.py --threads 1 --seconds 2700 --out .cache/zett-smollm2 \
        --json bench_results/zett_train.json
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from pathlib import Path

from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch


def evaluation_chunks(corpora: tuple[str, ...]) -> list[str]:
    """The held-out text of the benchmarks that evaluate a hypernetwork, for ``--hold-out-eval``."""
    from dynamic_tokenization import prefill_chunks
    from tokenizer_transfer import CORPORA, eval_texts

    from hf_tokens.assets import AssetNotInstalledError

    chunks = [t for quick in (False, True) for t in eval_texts(quick, CORPORA)]
    with contextlib.suppress(AssetNotInstalledError):  # English manual pages: evaluated where the machine has them
        chunks += [t for quick in (False, True) for t in eval_texts(quick, ("man-en",))]
    return chunks + [t for name in corpora for t in prefill_chunks(name)]


def loss_ends(history: list[dict[str, float]], key: str = "lm") -> tuple[int, float, float]:
    """``(k, first, last)``: medians of ``key`` over the first and the last ``k`` steps of a run (k <= 20)."""
    k = max(1, min(20, len(history) // 4))
    return k, statistics.median(r[key] for r in history[:k]), statistics.median(r[key] for r in history[-k:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--steps", type=int, default=2000, help="at most this many steps (one tokenizer each)")
    parser.add_argument("--seconds", type=float, default=1500.0, help="CPU budget: stop after this wall time")
    parser.add_argument("--out", type=Path, default=Path(".cache/zett-smollm2"), help="where the hypernetwork goes")
    parser.add_argument("--hidden-size", type=int, default=256, help="hypernetwork width")
    parser.add_argument("--layers", type=int, default=3, help="hypernetwork transformer layers (paper: 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hypernetwork init and the sampling")
    parser.add_argument("--fit-texts", type=int, default=200, help="texts each sampled tokenizer is fitted to")
    parser.add_argument("--vocab-min", type=int, default=4000, help="smallest sampled vocabulary")
    parser.add_argument("--vocab-max", type=int, default=16000, help="largest sampled vocabulary")
    parser.add_argument(
        "--predict-shared", action="store_true", help="LM loss with predicted (not copied) shared tokens, as before"
    )
    parser.add_argument("--aux-tokens", type=int, default=2048, help="shared tokens per step in the aux loss")
    parser.add_argument("--lr", type=float, default=3e-4, help="AdamW (peak) learning rate")
    parser.add_argument("--schedule", default="constant", help="lr after warm-up: constant, linear or cosine decay")
    parser.add_argument("--warmup", type=float, default=0.0, help="fraction of the run with linear lr warm-up")
    parser.add_argument(
        "--absent-tokens", type=int, default=0, help="distractor tokens per step in the output softmax (0 = none)"
    )
    parser.add_argument(
        "--absent-foreign", type=float, default=0.0, help="fraction of distractors from other scripts (synthetic)"
    )
    parser.add_argument(
        "--init", type=Path, default=None, help="continue training this saved hypernetwork (use another --seed)"
    )
    parser.add_argument(
        "--corpora", default="python-stdlib,fortunes,jargon,licenses",
        help="comma-separated hf_tokens.assets.text corpora the texts are drawn from",
    )  # fmt: skip
    parser.add_argument(
        "--pretokenizers", default="gpt2",
        help="comma-separated pre-tokenizations sampled tokenizers draw from: gpt2, llama3 (Llama 3 / Qwen's pattern)",
    )  # fmt: skip
    parser.add_argument(
        "--hold-out-eval", action="store_true",
        help="cut the evaluation chunks of tokenizer_transfer.py (full and --quick, default corpora and man-en) and "
        "of dynamic_tokenization.py's prefill arms (default flags) out of the training corpora",
    )  # fmt: skip
    args = parser.parse_args()
    setup_torch(args)
    if args.quick:
        args.steps, args.seconds = min(args.steps, 5), min(args.seconds, 120.0)

    from hf_tokens.assets import load_model
    from hf_tokens.hub import save_for_hub
    from hf_tokens.tokenizers.zett import ZettHypernetwork, ZettTrainingConfig, load_hypernetwork, train_hypernetwork
    from hf_tokens.tokenizers.zett.training import text_stream

    model, tok = load_model("smollm2-135m")
    if args.init is not None:
        net = load_hypernetwork(args.init)
    else:
        net = ZettHypernetwork.for_model(
            model, tok, seed=args.seed, hidden_size=args.hidden_size, num_layers=args.layers
        )
        net.config.base_model = "smollm2-135m"
    config = ZettTrainingConfig(
        steps=args.steps, seconds=args.seconds, seed=args.seed, fit_texts=args.fit_texts, vocab_min=args.vocab_min,
        vocab_max=args.vocab_max, copy_shared=not args.predict_shared, aux_tokens=args.aux_tokens, lr=args.lr,
        schedule=args.schedule, warmup=args.warmup, absent_tokens=args.absent_tokens,
        absent_foreign=args.absent_foreign, corpora=tuple(args.corpora.split(",")),
        pretokenizers=tuple(args.pretokenizers.split(",")),
    )  # fmt: skip

    def log(row: dict[str, float]) -> None:
        if int(row["step"]) % 10 == 0:
            print(
                f"step {int(row['step']):5d}  loss {row['loss']:.3f}  lm {row['lm']:.3f}  aux {row['aux']:.4f}  "
                f"vocab {int(row['vocab'])}  new {int(row.get('new', row['vocab']))}  absent {int(row['absent'])}  "
                f"{row['seconds']:.0f} s",
                flush=True,
            )

    held_out = evaluation_chunks(config.corpora) if args.hold_out_eval else []
    stream = text_stream(config, config.seed, held_out)
    history = train_hypernetwork(net, model, tok, config, texts=stream, log=log)
    k, first, last = loss_ends(history)
    bench = Benchmark("zett_train", "SmolLM2-135M-Instruct (dequantized Q4_1)", args.device, args.quick)
    bench.note(f"{len(history)} steps in {history[-1]['seconds']:.0f} s at {args.threads} thread(s); budget flags")
    if args.init is not None:
        bench.note(f"continued from the hypernetwork in {args.init} (sampling seed {args.seed})")
    bench.note(
        f"corpora {', '.join(config.corpora)}; pre-tokenizations {', '.join(config.pretokenizers)}; "
        + (f"{len(held_out)} evaluation chunks held out" if held_out else "no text held out")
    )
    bench.note("LM loss per token of sampled tokenizers (each step a different one): medians of the first/last steps")
    shared = "shared tokens copied (as transplant does)" if config.copy_shared else "shared tokens predicted"
    bench.note(
        f"recipe: tokenizers fitted to {config.fit_texts} texts of {config.text_chars} chars, vocab "
        f"{config.vocab_min}-{config.vocab_max}, LM loss on {config.batch_texts} texts x {config.seq_len} tokens, "
        f"{shared}, aux loss "
        f"on {config.aux_tokens or 'all'} shared tokens (weight {config.aux_weight}), AdamW lr {config.lr} "
        f"({config.schedule}, warm-up {config.warmup:.0%} of the run)"
        + (
            f", {config.absent_tokens} absent-token distractors per step ({config.absent_foreign:.0%} other scripts)"
            if config.absent_tokens
            else ""
        )
    )
    bench.add(
        "zett:train-lm-loss", "lm_loss", last, baseline=f"first {k} steps", baseline_value=first, steps=len(history)
    )
    bench.add("zett:train-aux-loss", "aux_loss", statistics.median(r["aux"] for r in history[-k:]))
    data = bench.finish(args.json)
    save_for_hub(
        net, args.out, method_id="zett", kind="tokenizer", config=config, overwrite=True,
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        description=(
            "A ZeTT embedding hypernetwork for SmolLM2-135M: load it with "
            "`hf_tokens.tokenizers.zett.load_hypernetwork(path)` and pass it to "
            '`transplant(model, tokenizer, new_tokenizer, method="zett", hypernetwork=net)`.'
        ),
        metrics=data["rows"],
    )  # fmt: skip
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
