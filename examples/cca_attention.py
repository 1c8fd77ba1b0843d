"""CCA attention on the bundled SmolLM2: switch a pretrained model to core-token + local-window attention.

    python examples/cca_attention.py                      # ~400 tokens of the Jargon File, g=16, s=128
    python examples/cca_attention.py --model .cache/cca-smollm2   # the adapted model saved by the benchmark

1. loads SmolLM2-135M (or a folder saved by ``benchmarks/attention_cca.py --save``) and registers ``hf_tokens_cca``;
2. scores a text with full attention (sdpa) and with CCA (``model.set_attn_implementation("hf_tokens_cca")``,
   settings in ``model.config.cca_*``), and prints how many keys the last query touches under each;
3. generates a few greedy tokens with CCA and a KV cache (the core tokens travel with the attention modules).
(Real numbers, including the adapted model, come from ``benchmarks/attention_cca.py``.)
"""

from __future__ import annotations

import argparse
import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from hf_tokens.attention.cca import CCAConfig, register_cca_attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="a saved model folder (default: the bundled SmolLM2-135M)")
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--group-size", type=int, default=16)
    parser.add_argument("--local-window", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import text_chunks

    model, tokenizer = load_model("smollm2-135m")
    key = register_cca_attention()
    if args.model:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(args.model, attn_implementation=key).eval()
    else:
        CCAConfig(group_size=args.group_size, local_window=args.local_window).apply(model.config)
    text = text_chunks("jargon", 1, 8 * args.tokens, seed=7)[0]
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"][:, : args.tokens]
    g, s = model.config.cca_group_size, model.config.cca_local_window
    length = ids.shape[1]
    for impl in ("sdpa", key):
        model.set_attn_implementation(impl)
        with torch.no_grad():
            loss = model(ids, labels=ids).loss.item()
        keys = length if impl == "sdpa" else min(length, s) + max(0, length - s) // g
        print(f"{impl:>14}: perplexity {math.exp(loss):7.2f} over {length} tokens, last query touches {keys} keys")
    prompt = ids[:, : min(length, 3 * s)]
    out = model.generate(prompt, max_new_tokens=args.max_new_tokens, do_sample=False)
    print(f"CCA (g={g}, s={s}) continues: {tokenizer.decode(out[0, prompt.shape[1] :])!r}")


if __name__ == "__main__":
    main()
