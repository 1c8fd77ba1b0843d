"""Landmark attention on SmolLM2-135M (arXiv 2305.16300, the paper's LLaMA fine-tuning at a CPU scale).

Two stages, one script:

* ``--stage train``: the recipe of :mod:`hf_tokens.attention.landmark.finetune` (``<landmark>`` token added, a
  landmark after every ``--block-size`` tokens, grouped softmax; ``--train all`` weights or only the attention and
  embedding ones) for ``--steps`` batches of ``--batch-size`` windows of ``--length`` regular tokens (stopping at
  ``--seconds``) on the first 90% of the ``jargon`` and ``python-stdlib`` corpora; saved with ``save_for_hub``
  (card included) to ``--save`` (git-ignored ``.cache/``).
* ``--stage eval``: perplexity of held-out texts (the last 10% of those corpora, and ``licenses``, never trained
  on) at ``--mults`` x the fine-tuning length, for the original SmolLM2 with sdpa (the baseline, full attention over
  the plain text) and the fine-tuned model through
  :class:`~hf_tokens.attention.landmark.cache.LandmarkCache` with ``--top-k`` blocks retrieved per query and head
  (and with every block); the text is fed in chunks of ``--chunk`` tokens, as the paper evaluates. Only regular
  tokens are scored (the landmark's logit predicts the token after a completed block). Also: keys a decoding step
  attends to (the cache's own count) vs the full context, and passkey accuracy with ``--passkey N`` samples.
  ``--arms tuned-sdpa`` adds a diagnostic arm: the fine-tuned weights with full attention and no landmarks, which
  separates what fine-tuning did to the weights from what landmark retrieval does.

    OMP_NUM_THREADS=1 python benchmarks/landmark_smollm2.py --stage train --steps 300 --warmup 10 --lr 1e-4 \\
        --train all --seconds 2400 --save .cache/landmark-smollm2   # what ran: 300 steps in 28 min
    OMP_NUM_THREADS=1 python benchmarks/landmark_smollm2.py --stage eval --load .cache/landmark-smollm2 \\
        --json bench_results/landmark_smollm2.json   # NLLs per arm and text are cached: --arms/--corpora split
    OMP_NUM_THREADS=1 python benchmarks/landmark_smollm2.py --stage eval --passkey-only --passkey 8 \
        --passkey-mults 1 2 4 --arms sdpa topk all tuned-sdpa --json bench_results/landmark_smollm2_passkey.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from hf_tokens.attention.landmark.config import LandmarkAttentionConfig
from hf_tokens.attention.landmark.finetune import add_landmark_token, finetune_landmarks
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch
from hf_tokens.models.lm_training import TrainingBudget

TRAIN_CORPORA = ("jargon", "python-stdlib")
HELD_OUT = 0.9  # the last 10% of each training corpus is held out
ARMS = ("sdpa", "topk", "all", "tuned-sdpa")  # tuned-sdpa: a diagnostic arm, computed only when --arms names it


def corpus_split(name: str) -> tuple[str, str]:
    from hf_tokens.assets.text import load_text

    text = load_text(name)
    cut = int(len(text) * HELD_OUT)
    return text[:cut], text[cut:]


def train(args: argparse.Namespace) -> dict:
    from hf_tokens.assets import load_model

    model, tokenizer = load_model("smollm2-135m")
    config = LandmarkAttentionConfig(block_size=args.block_size, top_k=args.top_k)
    landmark_id = add_landmark_token(model, tokenizer, config)
    ids = torch.cat([torch.tensor(tokenizer(corpus_split(n)[0])["input_ids"]) for n in TRAIN_CORPORA])
    budget = TrainingBudget(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup)
    start = time.perf_counter()

    def progress(step: int, loss: float) -> None:
        print(f"step {step + 1}/{args.steps} loss {loss:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)

    losses = finetune_landmarks(
        model,
        ids,
        config=config,
        landmark_id=landmark_id,
        length=args.length,
        budget=budget,
        seconds=args.seconds,
        train=args.train,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    summary = {
        "steps": len(losses),
        "budget_steps": args.steps,
        "budget_seconds": args.seconds,
        "batch_size": args.batch_size,
        "length": args.length,
        "laid_length": args.length + args.length // args.block_size,
        "block_size": args.block_size,
        "lr": args.lr,
        "train": args.train,
        "seconds": round(seconds, 1),
        "threads": args.threads,
        "train_tokens": ids.numel(),
        "first_losses": [round(x, 4) for x in losses[:10]],
        "last_losses": [round(x, 4) for x in losses[-10:]],
    }
    training = (
        f"`benchmarks/landmark_smollm2.py --stage train`: {len(losses)} steps (budget {args.steps} steps / "
        f"{args.seconds:.0f} s) x {args.batch_size} windows of "
        f"{args.length} tokens + {args.length // args.block_size} landmarks (block {args.block_size}), weights "
        f"trained: {args.train}, AdamW lr "
        f"{args.lr}, {seconds / 60:.0f} min on {args.threads} CPU thread(s); corpora {', '.join(TRAIN_CORPORA)} "
        f"(first 90%); loss {sum(losses[:10]) / min(10, len(losses)):.3f} (first 10 steps) -> "
        f"{sum(losses[-10:]) / min(10, len(losses)):.3f} (last 10)"
    )
    if args.save:
        from hf_tokens.hub import save_for_hub

        save_for_hub(
            model,
            args.save,
            method_id="landmark-attention",
            tokenizer=tokenizer,
            config=config,
            overwrite=True,
            training=training,
            base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        )
        (Path(args.save) / "training.json").write_text(json.dumps(summary, indent=1))
        print(f"saved to {args.save}")
    print(training)
    return summary


@torch.no_grad()
def token_nll(model: Any, ids: torch.Tensor, cache: Any, chunk: int) -> torch.Tensor:
    """NLL (nats) of ``ids[1:]`` fed in chunks of ``chunk`` tokens through ``cache`` (element j: id j + 1)."""
    from hf_tokens._compat import cache_kwarg

    logps = []
    for start in range(0, ids.numel(), chunk):
        logits = model(input_ids=ids[None, start : start + chunk], **{cache_kwarg(): cache}).logits[0]
        logps.append(torch.log_softmax(logits.float(), -1))
    logp = torch.cat(logps)[:-1]
    return -logp.gather(-1, ids[1:, None]).squeeze(-1)


@torch.no_grad()
def passkey(make: Any, tokenizer: Any, n_tokens: int, samples: int, seed: int) -> float:
    """The paper's passkey test (``llama/run_test.py`` prompt) at about ``n_tokens``: share of greedy answers that
    contain the 5-digit key; ``make()`` gives ``(model, fresh cache)``."""
    import random

    from hf_tokens._compat import cache_kwarg

    rng = random.Random(seed)
    garbage = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
    per = len(tokenizer(garbage)["input_ids"])
    right = 0
    for _ in range(samples):
        key = rng.randint(10000, 99999)
        n = max(1, (n_tokens - 60) // per)
        cut = rng.randint(0, n)
        text = (
            "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will "
            f"quiz you about the important information there.{garbage * cut}\nThe pass key is {key}. Remember it. "
            f"{key} is the pass key.\n{garbage * (n - cut)}\nWhat is the pass key? The pass key is"
        )
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        model, cache = make()
        out = model.generate(ids, max_new_tokens=8, do_sample=False, **{cache_kwarg(): cache})
        right += str(key) in tokenizer.decode(out[0, ids.shape[1] :])
    return right / samples


def load_tuned(folder: str) -> tuple[Any, dict]:
    """The fine-tuned model (sdpa + landmark insertion, for LandmarkCache) and its training summary."""
    from transformers import AutoModelForCausalLM

    from hf_tokens.attention.landmark.generation import enable_landmark_insertion

    tuned = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tuned.set_attn_implementation("sdpa")
    return enable_landmark_insertion(tuned), json.loads((Path(folder) / "training.json").read_text())


def evaluate(args: argparse.Namespace, bench: Benchmark) -> None:
    """Per-token NLLs of every arm and text (cached under ``--nll-dir``: the baseline can run during training),
    then the rows. ``--arms`` limits the arms computed in this process; rows need every arm."""
    from transformers import DynamicCache

    from hf_tokens.assets import load_model, load_tokenizer
    from hf_tokens.assets.text import load_text
    from hf_tokens.attention.landmark.cache import LandmarkCache
    from hf_tokens.attention.landmark.passkey import attended_per_step

    tokenizer = load_tokenizer("smollm2")
    base_model: list[Any] = []  # loaded on first use (not needed when its NLLs are cached)

    def base() -> Any:
        if not base_model:
            base_model.append(load_model("smollm2-135m")[0])
        return base_model[0]

    length, block, mults = args.length, args.block_size, sorted(args.mults)
    n_max = max(mults) * length
    tuned, trained = load_tuned(args.load) if set(args.arms) - {"sdpa"} else (None, None)
    if trained is not None:
        if (trained["length"], trained["block_size"]) != (length, block):
            raise SystemExit(f"{args.load} was trained at length {trained['length']} block {trained['block_size']}")
        bench.note(
            f"fine-tuned: {trained['steps']} steps x {trained['batch_size']} windows of {length} tokens + landmarks "
            f"(block {block}), lr {trained['lr']}, {trained['seconds'] / 60:.0f} min on {trained['threads']} CPU "
            f"thread(s); loss first 10 steps {sum(trained['first_losses']) / len(trained['first_losses']):.3f}, "
            f"last 10 {sum(trained['last_losses']) / len(trained['last_losses']):.3f}"
        )
    arms = {
        "sdpa": ("sdpa (original SmolLM2)", lambda: (base(), DynamicCache(config=base().config))),
        "topk": (f"landmark-top{args.top_k}", lambda: (tuned, LandmarkCache(tuned.config, top_k=args.top_k))),
        "all": ("landmark-all-blocks", lambda: (tuned, LandmarkCache(tuned.config, top_k=0))),
        # diagnostic: the fine-tuned weights with full attention and no landmarks (a DynamicCache skips insertion)
        "tuned-sdpa": ("landmark-tuned weights, full sdpa", lambda: (tuned, DynamicCache(config=tuned.config))),
    }
    if args.passkey_only:
        return run_passkey(args, bench, arms, tokenizer, length)
    stamp = f"{trained['seconds']:.0f}" if trained else "base"
    nll: dict[str, list[torch.Tensor]] = {arms[a][0]: [] for a in arms if a != "tuned-sdpa" or a in args.arms}
    for corpus in args.corpora:
        text = load_text(corpus) if corpus not in TRAIN_CORPORA else corpus_split(corpus)[1]
        ids = torch.tensor(tokenizer(text[: n_max * 8])["input_ids"][: n_max + 1])
        if ids.numel() < n_max + 1:
            raise SystemExit(f"held-out {corpus} has only {ids.numel()} tokens, fewer than {n_max + 1}")
        for key, (arm, make) in arms.items():
            path = Path(args.nll_dir) / f"{key}_{corpus}_{n_max}_{args.chunk}_{stamp if key != 'sdpa' else 'base'}.pt"
            if path.exists():
                nll[arm].append(torch.load(path))
                continue
            if key not in args.arms:
                continue
            t0 = time.perf_counter()
            model, cache = make()
            nll[arm].append(token_nll(model, ids, cache, args.chunk))
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(nll[arm][-1], path)
            print(f"{corpus} {arm}: {time.perf_counter() - t0:.0f} s, ppl {nll[arm][-1].mean().exp():.2f}", flush=True)
    missing = [arm for arm, values in nll.items() if len(values) != len(args.corpora)]
    if missing:
        raise SystemExit(f"NLLs cached; arms still missing for the rows: {missing}")
    base_arm = arms["sdpa"][0]
    for mult in mults:
        n = mult * length
        laid = n + n // block
        extra = {"train_length": length, "block_size": block, "texts": list(args.corpora), "tokens": n}
        if trained is not None:
            extra.update(train_steps=trained["steps"], train_minutes=round(trained["seconds"] / 60, 1))
            extra.update(train_weights={"attention": "attention + embedding"}.get(trained["train"], trained["train"]))
        base_ppl = torch.stack([x[:n].mean() for x in nll[base_arm]]).mean().exp()
        base_tail = torch.stack([x[n - length : n].mean() for x in nll[base_arm]]).mean().exp()
        for arm in nll:
            ppl = torch.stack([x[:n].mean() for x in nll[arm]]).mean().exp()
            tail = torch.stack([x[n - length : n].mean() for x in nll[arm]]).mean().exp()
            bench.add(arm, f"ppl@{mult}x", ppl, baseline=base_arm, baseline_value=base_ppl, **extra)
            bench.add(arm, f"ppl_last_{length}@{mult}x", tail, baseline=base_arm, baseline_value=base_tail, **extra)
        for key, top_k in (("topk", args.top_k), ("all", 0)):
            read = attended_per_step(laid, block, top_k)
            bench.add(arms[key][0], f"attended@{mult}x", read, baseline="full", baseline_value=laid, **extra)
    if args.passkey:
        run_passkey(args, bench, arms, tokenizer, length)


def run_passkey(args: argparse.Namespace, bench: Benchmark, arms: dict, tokenizer: Any, length: int) -> None:
    for mult in args.passkey_mults:
        for key in args.arms:
            arm, make = arms[key]
            acc = passkey(make, tokenizer, mult * length, args.passkey, seed=mult)
            print(f"passkey {mult}x {arm}: {acc:.2f}", flush=True)
            bench.add(arm, f"passkey_acc@{mult}x", acc, samples=args.passkey, train_length=length)


def main(argv: list[str] | None = None) -> dict:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--stage", choices=("train", "eval"), required=True)
    parser.add_argument("--block-size", type=int, default=31, help="regular tokens per block (official LLaMA: 63)")
    parser.add_argument(
        "--length",
        type=int,
        default=248,
        help="fine-tuning length in regular tokens (248 + 8 landmarks = 256 positions)",
    )
    parser.add_argument("--top-k", type=int, default=4, help="blocks retrieved per query and head at inference")
    parser.add_argument("--steps", type=int, default=120, help="training steps: the CPU budget")
    parser.add_argument("--seconds", type=float, default=1800.0, help="training wall-clock cap (CPU budget)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--train", choices=("all", "attention"), default="all", help="weights fine-tuned")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--save", default=None, help="train: save the model + card here (e.g. .cache/...)")
    parser.add_argument("--load", default=".cache/landmark-smollm2", help="eval: the fine-tuned folder")
    parser.add_argument("--mults", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--chunk", type=int, default=256, help="eval: tokens per forward")
    parser.add_argument("--corpora", nargs="+", default=["jargon", "python-stdlib", "licenses"], help="eval texts")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=["sdpa", "topk", "all"])
    parser.add_argument("--nll-dir", default=".cache/landmark-smollm2-nll", help="eval: per-token NLL cache")
    parser.add_argument("--passkey-mults", type=int, nargs="+", default=[2, 4], help="eval: passkey lengths")
    parser.add_argument("--passkey-only", action="store_true", help="eval: only the passkey test (own --json)")
    parser.add_argument("--passkey", type=int, default=0, help="eval: passkey samples per length (0: skip)")
    args = parser.parse_args(argv)
    setup_torch(args)
    torch.manual_seed(0)
    if args.stage == "train":
        if args.quick:
            args.steps = 2
        return train(args)
    bench = Benchmark("landmark_smollm2", "SmolLM2-135M-Instruct", args.device, args.quick)
    evaluate(args, bench)
    return bench.finish(args.json)


if __name__ == "__main__":
    main()
