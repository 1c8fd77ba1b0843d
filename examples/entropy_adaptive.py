"""Entropy Adaptive Decoding: a small and a large model sharing one vocabulary take turns inside ``model.generate``.

python examples/entropy_adaptive.py                        # bundled SmolLM2 (large) + its first 10 layers (small)
python examples/entropy_adaptive.py --pair qwen            # Qwen2.5-Coder 1.5B (large) + 0.5B (small): ~10 GB fp32
python examples/entropy_adaptive.py --threshold 0.5 --window 4 --prompt "What is 17 + 25?"

The bundled pair only shows the mechanics (a truncated model is a poor small model, so the large one decodes most
tokens); ``benchmarks/generation2.py ead`` measures accuracy and the large model's share on the Qwen pair.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--pair", choices=("smollm2", "qwen"), default="smollm2")
    parser.add_argument("--threshold", type=float, default=0.8, help="rolling entropy (nats) above which: large")
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--prompt", default="Explain in one sentence what a compiler does.")
    args = parser.parse_args()

    import torch

    from hf_tokens.assets import load_model
    from hf_tokens.generation import entropy_adaptive
    from hf_tokens.generation.dyspec import truncated_draft

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if args.pair == "qwen":
        large, tokenizer = load_model("qwen2.5-coder-1.5b")
        small, _ = load_model("qwen2.5-coder-0.5b")
    else:
        large, tokenizer = load_model("smollm2-135m")
        small = truncated_draft(large, 10)  # shares the large model's weights
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": args.prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    stats: dict = {}
    start = time.perf_counter()
    out = large.generate(
        **inputs,
        max_new_tokens=args.max_new_tokens,
        do_sample=False,
        custom_generate=entropy_adaptive.generate,
        small_model=small,
        entropy_adaptive_config={"threshold": args.threshold, "window": args.window},
        decoding_stats=stats,
    )
    seconds = time.perf_counter() - start
    print(tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    print(
        f"\n{stats['new_tokens']} tokens in {seconds:.1f} s: large model {stats['large_tokens']} "
        f"({stats['large_fraction']:.0%}), small model {stats['small_tokens']}, {stats['switches']} switches"
    )


if __name__ == "__main__":
    main()
