"""Quickstart: load the bundled SmolLM2-135M, list the methods, and run plain greedy generation on CPU.

python examples/quickstart.py [--prompt "..."] [--max-new-tokens 32]
"""

from __future__ import annotations

import argparse

import torch

import hf_tokens
from hf_tokens.assets import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompt", default="Write one sentence about tokens in language models.")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    implemented = hf_tokens.list_methods(implemented=True)
    print(f"{len(hf_tokens.list_methods())} methods registered, {len(implemented)} implemented:")
    for spec in implemented:  # the headline's numbers are read from the committed result file it references
        try:
            headline = spec.headline_text() or ""
        except LookupError as exc:
            headline = f"(no committed result: {exc})"
        print(f"  {spec.id:24} {spec.extension:11} {headline}")

    model, tokenizer = load_model("smollm2-135m")  # dequantized once, ~1 s afterwards
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": args.prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False)
    print("\n" + tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))


if __name__ == "__main__":
    main()
