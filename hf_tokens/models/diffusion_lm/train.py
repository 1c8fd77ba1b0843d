"""Train the small masked diffusion LM on offline text within a CPU budget, and save it with its card.

    python -m hf_tokens.models.diffusion_lm.train --minutes 20 --out .cache/diffusion_lm          # a new 4-layer model
    # SmolLM2-135M adapted to masked diffusion (the benchmark's headline model; 26 min on 2 threads):
    python -m hf_tokens.models.diffusion_lm.train --init smollm2 --minutes 35 --threads 2 --batch-size 4 \
        --seq-len 256 --lr 1e-4 --out .cache/diffusion_lm_smollm2

Data: the CPython standard-library source (``hf_tokens.assets.text``, corpus ``python-stdlib``), tokenised with
SmolLM2's tokenizer (+ the mask token); the first 90% of the token stream trains, the last 10% is held out (the
benchmark draws its prompts there). Loop: :func:`hf_tokens.models.lm_training.train_on_stream` with LLaDA's loss
(:func:`.modeling.masked_diffusion_loss`); the number of steps is fixed from the measured time of a few warm-up steps
so the run fits ``--minutes`` (at ``--threads``) on an otherwise idle machine; on a shared CPU the loop runs longer
(the 4-layer model of bench_results/diffusion_lm.json: 384 steps planned for 18 min took 30.9 min while other jobs
ran; the SmolLM2 adaptation: 318 steps planned for 35 min took 26 min). The card records both.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

MASK_TOKEN = "<|mdm_mask|>"
CORPUS = "python-stdlib"


def tokenizer_with_mask() -> Any:
    """SmolLM2's tokenizer with the mask token appended (id 49152)."""
    from hf_tokens.assets import load_tokenizer

    tok = load_tokenizer("smollm2")
    tok.add_special_tokens({"mask_token": MASK_TOKEN})
    return tok


def token_stream(tokenizer: Any, chars: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train_ids, heldout_ids)``: the first ``chars`` characters of the corpus, split 90/10 as token streams."""
    from hf_tokens.assets.text import load_text

    text = load_text(CORPUS)[:chars]
    cut = int(len(text) * 0.9)
    encode = lambda s: torch.tensor(tokenizer(s, add_special_tokens=False)["input_ids"], dtype=torch.long)  # noqa: E731
    return encode(text[:cut]), encode(text[cut:])


def main(argv: list[str] | None = None) -> Path:
    from hf_tokens.assets.models import MODELS
    from hf_tokens.hub import save_for_hub
    from hf_tokens.models.diffusion_lm.modeling import DiffusionLMConfig, DiffusionLMForMaskedLM, masked_diffusion_loss
    from hf_tokens.models.lm_training import TrainingBudget, train_on_stream

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=20.0, help="CPU budget of the training loop")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=".cache/diffusion_lm")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--chars", type=int, default=3_000_000, help="characters of the corpus to read")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--init",
        choices=("scratch", "smollm2"),
        default="scratch",
        help="scratch: a new model of --hidden/--layers; smollm2: copy SmolLM2-135M's weights (AR-to-diffusion "
        "adaptation as in Dream 7B: bidirectional attention, shifted logits; --hidden/--layers ignored)",
    )
    args = p.parse_args(argv)
    if args.minutes <= 0:
        raise ValueError(f"--minutes must be > 0, got {args.minutes}")
    torch.set_num_threads(args.threads)
    tok = tokenizer_with_mask()
    train_ids, _ = token_stream(tok, args.chars)
    torch.manual_seed(args.seed)
    config = DiffusionLMConfig(
        vocab_size=len(tok),
        hidden_size=args.hidden,
        intermediate_size=3 * args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=max(1, args.hidden // 64),
        max_position_embeddings=512,
        mask_token_id=tok.mask_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    if args.init == "smollm2":
        from hf_tokens.assets import load_model
        from hf_tokens.models.diffusion_lm.convert import diffusion_lm_from_causal_lm

        model = diffusion_lm_from_causal_lm(load_model("smollm2-135m")[0], mask_token_id=tok.mask_token_id).train()
        config = model.config
    else:
        model = DiffusionLMForMaskedLM(config)
    gen = torch.Generator().manual_seed(args.seed)

    def loss_fn(m: Any, windows: torch.Tensor) -> torch.Tensor:
        return masked_diffusion_loss(m, windows, generator=gen)

    probe = DiffusionLMForMaskedLM(config)
    t0 = time.perf_counter()
    train_on_stream(
        probe,
        train_ids,
        seq_len=args.seq_len,
        budget=TrainingBudget(steps=3, batch_size=args.batch_size),
        loss_fn=loss_fn,
    )
    per_step = (time.perf_counter() - t0) / 3
    del probe
    steps = max(10, int(args.minutes * 60 / per_step))
    budget = TrainingBudget(
        steps=steps, batch_size=args.batch_size, lr=args.lr, warmup=min(100, steps // 10), seed=args.seed
    )
    print(f"{per_step:.2f} s/step -> {steps} steps in {args.minutes} min at {args.threads} thread(s)", flush=True)
    start = time.perf_counter()

    def progress(step: int, loss: float) -> None:
        if step % 25 == 0 or step == steps - 1:
            print(f"step {step}/{steps} loss {loss:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)

    losses = train_on_stream(model, train_ids, seq_len=args.seq_len, budget=budget, loss_fn=loss_fn, progress=progress)
    minutes = (time.perf_counter() - start) / 60
    tail = sum(losses[-20:]) / len(losses[-20:])
    command = "python -m hf_tokens.models.diffusion_lm.train " + " ".join(sys.argv[1:] if argv is None else argv)
    folder = save_for_hub(
        model,
        args.out,
        method_id="diffusion-lm-cache",
        tokenizer=tok,
        overwrite=True,
        base_model=MODELS["smollm2-135m"].hub_id if args.init == "smollm2" else None,
        auto_class="AutoModelForMaskedLM",
        training=f"{steps} steps x {args.batch_size} x {args.seq_len} tokens of {CORPUS}, {minutes:.1f} min at "
        f"{args.threads} thread(s); final LLaDA loss {tail:.3f}; command: {command.strip()}",
    )
    print(f"saved {folder} (final loss {tail:.3f})")
    return folder


if __name__ == "__main__":
    main()
