"""Lossless speculative decoding inside ``model.generate``: Token Recycling, ADED, DySpec, or transformers' own
prompt lookup with its verification linears on oneDNN (``onednn_linears``).

python examples/speculative.py                      # bundled SmolLM2, Token Recycling
python examples/speculative.py --method dyspec --draft-layers 8
python examples/speculative.py --method prompt-lookup --prompt "Repeat word for word: ..."
python examples/speculative.py --model path/or/hub-id --device cuda

One short run on a shared CPU is noisy: ``benchmarks/speculative.py`` measures speed-ups over many prompts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    methods = ("token-recycling", "aded", "dyspec", "prompt-lookup")
    parser.add_argument("--method", choices=methods, default="token-recycling")
    parser.add_argument("--model", default=None, help="a from_pretrained path or Hub id (default: bundled SmolLM2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--draft-layers", type=int, default=8, help="DySpec: layers of the truncated self-draft")
    parser.add_argument("--prompt", default="Explain in simple terms how a rainbow forms.")
    args = parser.parse_args()

    import torch

    from hf_tokens.generation import aded, dyspec, onednn_linears, token_recycling

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if args.model is None:
        from hf_tokens.assets import load_model

        model, tokenizer = load_model("smollm2-135m")
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(args.model).eval()
        tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = model.to(args.device)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": args.prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to(args.device)

    stats: dict = {}
    extra: dict = {"decoding_stats": stats}
    if args.method == "token-recycling":
        extra["custom_generate"] = token_recycling.generate
    elif args.method == "aded":
        extra["custom_generate"] = aded.generate
    elif args.method == "dyspec":
        extra["custom_generate"] = dyspec.generate
        extra["draft_model"] = dyspec.truncated_draft(model, args.draft_layers)
    else:  # transformers' prompt lookup; onednn_linears below runs its multi-token verification on oneDNN
        extra = {"prompt_lookup_num_tokens": 10}

    start = time.perf_counter()
    plain = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False)
    t_plain = time.perf_counter() - start
    start = time.perf_counter()
    with onednn_linears(model) if args.method == "prompt-lookup" else contextlib.nullcontext():
        out = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False, **extra)
    t_ours = time.perf_counter() - start

    n = out.shape[1] - inputs["input_ids"].shape[1]
    print(tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    print(f"\nsame tokens as plain greedy: {torch.equal(out, plain)}")
    print(f"plain greedy: {n / t_plain:.1f} tokens/s; {args.method}: {n / t_ours:.1f} tokens/s")
    if stats:
        print(f"{stats['steps']} verification steps, {stats['mean_accepted']:.2f} tokens per step")


if __name__ == "__main__":
    main()
