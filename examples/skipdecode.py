"""SkipDecode inside ``model.generate``: later positions skip lower/middle layers on a schedule shared by the batch.

python examples/skipdecode.py                                   # bundled SmolLM2, a mild 30 -> 18 layer schedule
python examples/skipdecode.py --finetune-steps 40 --output-dir out/smollm2-skipdecode   # the recipe first (CPU)
python examples/skipdecode.py --model .cache/skipdecode/smollm2-skipdecode-mild   # a checkpoint of the benchmark

Without fine-tuning the schedule degrades the text quickly; ``--finetune-steps`` runs the recipe
(``SkipDecodeSFTTrainer`` on offline text) and saves the model with its card into ``--output-dir``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", default=None, help="a from_pretrained folder (default: bundled SmolLM2)")
    parser.add_argument("--min-layers", type=int, default=18)
    parser.add_argument("--decay-tokens", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--finetune-steps", type=int, default=0, help="fine-tune with the schedule first")
    parser.add_argument("--output-dir", type=Path, default=None, help="where the fine-tuned model is saved")
    parser.add_argument("--prompt", default="The history of the Internet began")
    args = parser.parse_args()
    if args.finetune_steps and args.output_dir is None:
        parser.error("--finetune-steps needs --output-dir (the only place this example writes to)")

    import torch

    from hf_tokens.generation import skipdecode

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if args.model is None:
        from hf_tokens.assets import load_model

        model, tokenizer = load_model("smollm2-135m")
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(args.model).eval()
        tokenizer = AutoTokenizer.from_pretrained(args.model)
    schedule = skipdecode.SkipDecodeConfig(min_layers=args.min_layers, decay_tokens=args.decay_tokens)
    if args.finetune_steps:
        finetune(model, tokenizer, schedule, args)
    inputs = tokenizer(args.prompt, return_tensors="pt")
    start = time.perf_counter()
    plain = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False)
    t_plain = time.perf_counter() - start
    stats: dict = {}
    start = time.perf_counter()
    out = model.generate(
        **inputs,
        max_new_tokens=args.max_new_tokens,
        do_sample=False,
        custom_generate=skipdecode.generate,
        skipdecode_config=schedule,
        decoding_stats=stats,
    )
    t_skip = time.perf_counter() - start
    n = inputs["input_ids"].shape[1]
    print("plain:     ", tokenizer.decode(plain[0, n:], skip_special_tokens=True))
    print("skipdecode:", tokenizer.decode(out[0, n:], skip_special_tokens=True))
    print(
        f"\n{stats['mean_active_layers']:.1f} of {stats['num_layers']} layers per token on average; "
        f"{t_plain:.2f} s plain, {t_skip:.2f} s skipdecode"
    )


def finetune(model, tokenizer, schedule, args) -> None:
    """The recipe: a few SFT steps with the schedule on offline English text, saved with its card."""
    from datasets import Dataset

    from hf_tokens._compat import no_checkpointing
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.generation.skipdecode.train import SkipDecodeSFTConfig, SkipDecodeSFTTrainer
    from hf_tokens.hub import save_for_hub

    rows = [tokenizer(t).input_ids[:128] for t in text_chunks("jargon", 200, chars=800, seed=1)]
    config = SkipDecodeSFTConfig(
        output_dir=str(args.output_dir / "trainer"),
        max_steps=args.finetune_steps,
        per_device_train_batch_size=4,
        learning_rate=2e-4,
        bf16=False,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        skip_min_layers=schedule.min_layers,
        skip_decay_tokens=schedule.decay_tokens,
        skip_max_start=64,
        **no_checkpointing(),
    )
    SkipDecodeSFTTrainer(
        model=model, args=config, train_dataset=Dataset.from_dict({"input_ids": rows}), processing_class=tokenizer
    ).train()
    model.eval()
    folder = save_for_hub(
        model, args.output_dir / "model", method_id="skipdecode", kind="model", tokenizer=tokenizer, config=schedule
    )
    print(f"saved the fine-tuned model to {folder}")


if __name__ == "__main__":
    main()
