"""Sorted speculative decoding (S2D): nested sub-networks of one sorted model draft for two targets, losslessly.

python examples/s2d.py                                        # SoFT a copy of SmolLM2 for a few steps, serve 2 targets
python examples/s2d.py --soft-steps 40 --output-dir out/smollm2-soft   # longer recipe, saved with its card

The sorted copy's first 4 / 8 / 12 layers (+ shared norm and head) are the drafts; they serve the original SmolLM2
and the sorted copy itself, each with its own confidence thresholds. Outputs equal plain greedy decoding.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--soft-steps", type=int, default=8, help="sorted fine-tuning steps (CPU budget)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--output-dir", type=Path, default=None, help="save the sorted model here (with its card)")
    parser.add_argument("--prompt", default="def fibonacci(n):\n    ")
    args = parser.parse_args()

    import torch

    from hf_tokens.assets import load_model
    from hf_tokens.generation import s2d

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    target, tokenizer = load_model("smollm2-135m")
    sorted_model = copy.deepcopy(target)
    torch.manual_seed(0)
    cfg = s2d.SortedFineTuningConfig(depths=[4, 8, 12, 30], max_steps=args.soft_steps, learning_rate=1e-4)
    report = s2d.sorted_fine_tune(sorted_model, tokenizer, cfg)
    print(f"SoFT: {report['steps']} steps, per-depth loss {report['loss_history'][0]} -> {report['loss_history'][-1]}")
    if args.output_dir is not None:
        from hf_tokens.hub import save_for_hub

        save_for_hub(
            sorted_model,
            args.output_dir,
            method_id="s2d",
            kind="model",
            tokenizer=tokenizer,
            config=cfg,
            overwrite=True,
        )
        print(f"saved the sorted model with its card to {args.output_dir}")

    inputs = tokenizer(args.prompt, return_tensors="pt")
    n = inputs["input_ids"].shape[1]
    per_target = {"SmolLM2-135M": (target, [0.9, 0.7, 0.5]), "SmolLM2-135M-SoFT": (sorted_model, [0.7, 0.5, 0.3])}
    greedy = {"max_new_tokens": args.max_new_tokens, "do_sample": False}
    for name, (model, thresholds) in per_target.items():
        t_plain = time.perf_counter()
        plain = model.generate(**inputs, **greedy)
        t_plain = time.perf_counter() - t_plain
        stats: dict = {}
        # the same nested drafts (the sorted model's first 4 / 8 / 12 layers) for both targets
        s2d_kwargs = {"draft_model": sorted_model, "s2d_config": {"depths": [4, 8, 12], "thresholds": thresholds}}
        start = time.perf_counter()
        out = model.generate(**inputs, **greedy, custom_generate=s2d.generate, decoding_stats=stats, **s2d_kwargs)
        t_s2d = time.perf_counter() - start
        shares = ", ".join(f"{d} layers {s:.0%}" for d, s in zip(stats["depths"], stats["exit_share"]))
        print(f"\n[{name}] {tokenizer.decode(out[0, n:], skip_special_tokens=True)!r}")
        print(
            f"identical to greedy: {bool(torch.equal(out, plain))}; {stats['mean_accepted']:.2f} tokens/step; "
            f"drafts from {shares}; {t_plain:.2f} s greedy, {t_s2d:.2f} s S2D"
        )


if __name__ == "__main__":
    main()
