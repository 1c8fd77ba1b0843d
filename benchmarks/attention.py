"""Length extrapolation of attention functions: small Llama-style models trained from scratch, evaluated longer.

Every arm trains the same model (Llama architecture with RoPE; ``--layers`` 4, ``--hidden`` 256, 4 heads of 64 -
the paper's head dim) from the same seed on the same byte-level tokens of an offline corpus
(``hf_tokens.assets.text``, default ``jargon``; vocabulary = the 256 byte values, no tokenizer to train) for the same
``--steps`` x ``--batch`` x ``--train-len`` token budget (AdamW, warm-up then cosine decay). Arms:

* ``softmax``: transformers' sdpa attention (the baseline);
* ``lssa``: ``hf_tokens_softplus`` with the paper's LSSA (softplus, l1 normalisation, cosine logits scaled by
  ``log(d) * log(N_i)``), no re-weighting in training;
* ``lssar``: (optional, ``--arms``) LSSA trained with re-weighting ``p = --power``.

Each trained model is then evaluated on held-out text (the last 5% of the corpus, never trained on) at 1x, 4x and
16x the training length (``--multiples``), over the same ``--eval-tokens`` tokens at every length (windows of that
length, loss averaged over every predicted token). The ``lssa`` model is also evaluated with re-weighting switched
on at inference only (no fine-tuning, the paper's first version): ``lssa+rw`` re-weights every row,
``lssa+rw>train`` only rows that see more than ``--train-len`` keys. Rows: ``val_loss@<L>`` per variant, with the
same variant's loss at 1x as baseline (``ratio`` = loss at L / loss at 1x: the issue's goal is <= 1.05 at 16x for
softplus + re-weighting) and ``val_loss_vs_softmax@<L>`` (baseline: the softmax model at the same length).

Checkpoints are saved with ``save_for_hub`` (card included) under ``--save-dir`` (git-ignored ``.cache/``).
``train_seconds`` rows are wall-clock on a shared machine (contention inflates them); losses are deterministic for a
seed and thread count, so the softmax arm of both committed runs is the same model.

    PYTHONPATH=. python benchmarks/attention.py --arms softmax lssar \\
        --json bench_results/attention_extrapolation_lssar.json
    PYTHONPATH=. python benchmarks/attention.py --arms softmax lssa --json bench_results/attention_extrapolation.json
    PYTHONPATH=. python benchmarks/attention.py --quick            # < 5 min: 40 steps, 1x and 4x
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from hf_tokens.assets.text import load_text
from hf_tokens.attention.softplus import SoftplusAttentionConfig, register_softplus_attention
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

ARMS = ("softmax", "lssa", "lssar")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--arms", nargs="+", default=["softmax", "lssa"], choices=ARMS)
    parser.add_argument("--steps", type=int, default=120, help="optimizer steps per arm (the CPU budget)")
    parser.add_argument("--batch", type=int, default=8, help="sequences per step")
    parser.add_argument("--train-len", type=int, default=256, help="training sequence length (bytes)")
    parser.add_argument("--multiples", type=int, nargs="+", default=[1, 4, 16], help="eval lengths / train length")
    parser.add_argument("--eval-tokens", type=int, default=8192, help="held-out tokens evaluated at every length")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--power", type=float, default=15.0, help="re-weighting power p (the paper: 15)")
    parser.add_argument("--corpus", default="jargon")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir", type=Path, default=Path(".cache/attention_extrapolation"))
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.multiples, args.eval_tokens = min(args.steps, 40), [1, 4], min(args.eval_tokens, 4096)
    for name in ("steps", "batch", "train_len", "eval_tokens", "layers", "hidden", "heads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.hidden % args.heads:
        parser.error(f"--hidden ({args.hidden}) must be a multiple of --heads ({args.heads})")
    longest = args.train_len * max(args.multiples)
    if args.eval_tokens % longest:
        parser.error(f"--eval-tokens ({args.eval_tokens}) must be a multiple of the longest eval length ({longest})")
    return args


def byte_splits(corpus: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Train / held-out byte ids (the last 5% of the corpus is never trained on)."""
    data = torch.tensor(list(load_text(corpus).encode("utf-8")), dtype=torch.long)
    cut = int(len(data) * 0.95)
    return data[:cut], data[cut:]


def model_config(args: argparse.Namespace, attention_kwargs: dict[str, Any]) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=256,
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 8 // 3,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=args.train_len * max(args.multiples),
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        **attention_kwargs,
    )


def arm_settings(arm: str, power: float) -> tuple[str, dict[str, Any]]:
    """The attention implementation and ``softplus_*`` config attributes of a training arm."""
    if arm == "softmax":
        return "sdpa", {}
    key = register_softplus_attention()
    return key, SoftplusAttentionConfig(reweight_power=power if arm == "lssar" else 0.0).to_model_kwargs()


def train(args: argparse.Namespace, arm: str, data: torch.Tensor) -> tuple[Any, float, float]:
    """Train one arm; returns the model, its last-20-steps mean training loss and the wall seconds."""
    from transformers import AutoModelForCausalLM

    impl, kwargs = arm_settings(arm, args.power)
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_config(model_config(args, kwargs), attn_implementation=impl)
    model.to(args.device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, args.steps // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(args.seed)  # the same batches for every arm
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(args.steps):
        starts = torch.randint(0, len(data) - args.train_len - 1, (args.batch,), generator=gen)
        ids = torch.stack([data[s : s + args.train_len] for s in starts.tolist()]).to(args.device)
        loss = model(ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 20 == 0 or step == args.steps - 1:
            print(f"[{arm}] step {step}/{args.steps} loss {loss.item():.3f} ({time.perf_counter() - start:.0f}s)")
            sys.stdout.flush()
    tail = losses[-20:]
    return model.eval(), sum(tail) / len(tail), time.perf_counter() - start


@torch.no_grad()
def evaluate(model: Any, data: torch.Tensor, length: int, tokens: int, device: str) -> float:
    """Mean next-byte loss over ``tokens`` held-out bytes cut into windows of ``length``."""
    windows = data[:tokens].view(-1, length).to(device)
    total, count = 0.0, 0
    for row in windows:
        loss = model(row[None], labels=row[None]).loss.item()
        total, count = total + loss * (length - 1), count + length - 1
    return total / count


def eval_variants(arm: str, power: float, train_len: int) -> dict[str, dict[str, Any]]:
    """Inference-time variants of a trained arm: name -> ``softplus_*`` overrides."""
    if arm != "lssa":
        return {arm: {}}
    return {
        "lssa": {},
        "lssa+rw": {"softplus_reweight_power": power, "softplus_reweight_after": 0},
        "lssa+rw>train": {"softplus_reweight_power": power, "softplus_reweight_after": train_len},
    }


def save(model: Any, args: argparse.Namespace, arm: str, train_loss: float, seconds: float) -> None:
    from hf_tokens.hub import save_for_hub

    impl, kwargs = arm_settings(arm, args.power)
    training = (
        f"Trained from scratch by `benchmarks/attention.py` (arm `{arm}`, attention `{impl}`): {args.steps} steps x "
        f"{args.batch} x {args.train_len} bytes of the offline `{args.corpus}` corpus (byte-level ids 0-255, no "
        f"tokenizer), AdamW lr {args.lr}, seed {args.seed}, {args.threads} CPU thread(s), {seconds:.0f} s; final "
        f"training loss {train_loss:.3f} nats/byte. Load with "
        f"`AutoModelForCausalLM.from_pretrained(folder, attn_implementation={impl!r})` after "
        "`hf_tokens.attention.softplus.register_softplus_attention()`."
    )
    save_for_hub(
        model,
        args.save_dir / arm,
        method_id="softplus-attention",
        config=SoftplusAttentionConfig(**{k.removeprefix("softplus_"): v for k, v in kwargs.items()})
        if kwargs
        else None,
        overwrite=True,
        training=training,
        name=f"{arm} byte-level Llama ({args.layers}x{args.hidden}) for length extrapolation",
        description=f"Attention `{impl}`; the settings of `hf_tokens_softplus` are the `softplus_*` entries of "
        "config.json. Ids are UTF-8 bytes (no tokenizer).",
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    setup_torch(args)
    bench = Benchmark(
        "attention_extrapolation",
        f"llama {args.layers}x{args.hidden} byte-level, trained from scratch",
        device=args.device,
        quick=args.quick,
    )
    bench.note(
        f"budget per arm: {args.steps} steps x {args.batch} x {args.train_len} bytes of {args.corpus} (seed "
        f"{args.seed}, lr {args.lr}); eval: {args.eval_tokens} held-out bytes at lengths "
        f"{[m * args.train_len for m in args.multiples]}; re-weighting power {args.power}"
    )
    train_data, val_data = byte_splits(args.corpus)
    lengths = [m * args.train_len for m in args.multiples]
    results: dict[str, dict[int, float]] = {}
    for arm in args.arms:
        model, train_loss, seconds = train(args, arm, train_data)
        bench.add(arm, "train_seconds", seconds)
        bench.add(arm, "train_loss_last20", train_loss)
        if args.save_dir:
            save(model, args, arm, train_loss, seconds)
        for variant, overrides in eval_variants(arm, args.power, args.train_len).items():
            for key, value in overrides.items():
                setattr(model.config, key, value)
            results[variant] = {}
            for length in lengths:
                loss = evaluate(model, val_data, length, args.eval_tokens, args.device)
                results[variant][length] = loss
                print(f"[{variant}] val loss at {length}: {loss:.4f}")
                sys.stdout.flush()
        del model
    for variant, by_length in results.items():
        for length in lengths:
            bench.add(
                variant,
                f"val_loss@{length}",
                by_length[length],
                baseline=f"{variant}@{lengths[0]}",
                baseline_value=by_length[lengths[0]],
                multiple=length // args.train_len,
            )
            if "softmax" in results and variant != "softmax":
                bench.add(
                    variant,
                    f"val_loss_vs_softmax@{length}",
                    by_length[length],
                    baseline="softmax",
                    baseline_value=results["softmax"][length],
                    multiple=length // args.train_len,
                )
    return bench.finish(args.json)


if __name__ == "__main__":
    main()
