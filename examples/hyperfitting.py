"""Hyperfitting: fine-tune SmolLM2 to near-zero loss on a handful of passages, then compare greedy long-form output.

python examples/hyperfitting.py                                  # 16 passages, up to 20 epochs, 128 new tokens
python examples/hyperfitting.py --epochs 2 --new-tokens 32       # a quick look
python examples/hyperfitting.py --output-dir out/smollm2-hyperfitted   # also save the model with its card

``benchmarks/hyperfitting.py`` measures the paper's metrics (type-token ratio, repeated n-grams, self-BLEU, entropy)
over several held-out prompts against the original model's greedy decoding and top-p sampling.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--train-texts", type=int, default=16)
    parser.add_argument("--epochs", type=float, default=20.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--target-loss", type=float, default=0.05)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--prompt", default="The old lighthouse keeper opened the door and")
    parser.add_argument("--output-dir", type=Path, default=None, help="save the hyperfitted model here")
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from transformers import LogitsProcessorList

    from hf_tokens._compat import no_checkpointing
    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.trainers.hyperfitting import (
        HyperfittingConfig,
        HyperfittingTrainer,
        TrainingNgramBlocker,
        copied_ngram_rate,
        repeated_ngram_rate,
        type_token_ratio,
    )

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    model, tokenizer = load_model("smollm2-135m")
    inputs = tokenizer(args.prompt, return_tensors="pt")
    n = inputs["input_ids"].shape[1]

    def greedy(**kwargs: object) -> list[int]:
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, **kwargs)
        return out[0, n:].tolist()

    before = greedy()
    rows = [tokenizer(t).input_ids[:128] for t in text_chunks("jargon", args.train_texts, chars=1200, seed=3)]
    with tempfile.TemporaryDirectory() as scratch:  # the trainer's output_dir; nothing is saved there
        config = HyperfittingConfig(
            output_dir=scratch,
            num_train_epochs=args.epochs,
            learning_rate=args.lr,
            per_device_train_batch_size=4,
            target_loss=args.target_loss,
            logging_steps=1,
            bf16=False,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            **no_checkpointing(),
        )
        trainer = HyperfittingTrainer(
            model=model, args=config, train_dataset=Dataset.from_dict({"input_ids": rows}), processing_class=tokenizer
        )
        trainer.train()
    model.eval()
    after = greedy()
    # the paper's citation blocker: no token may complete a 6-gram of the training passages
    blocked = greedy(logits_processor=LogitsProcessorList([TrainingNgramBlocker(rows, n=6)]))
    losses = trainer.hyperfitting.losses
    print(f"training loss {losses[0][2]:.3f} -> {losses[-1][2]:.3f} in {trainer.state.global_step} steps")
    arms = (("original greedy", before), ("hyperfitted greedy", after), ("hyperfitted, citation blocker", blocked))
    for name, tokens in arms:
        ttr, rep = type_token_ratio(tokens), repeated_ngram_rate(tokens, 4)
        copied = copied_ngram_rate(tokens, rows, n=6)
        print(f"\n{name} (type-token ratio {ttr:.2f}, repeated 4-grams {rep:.2f}, copied 6-grams {copied:.2f}):")
        print(tokenizer.decode(tokens, skip_special_tokens=True))
    if args.output_dir is not None:
        from hf_tokens.hub import save_for_hub

        folder = save_for_hub(model, args.output_dir, method_id="hyperfitting", tokenizer=tokenizer, config=config)
        print(f"\nsaved to {folder}")


if __name__ == "__main__":
    main()
