"""Budgeted KV caches with plain ``model.generate``: H2O, EMS, TokenSelect, TidalDecode and the sink baseline.

Loads the bundled SmolLM2-135M (CPU, fp32, default sdpa attention), plants a fact early in a long prompt, and
answers with each cache at the given budget, printing the answer, the tokens stored per layer and the cache size.

python examples/kv_cache.py [--budget 0.2] [--model path/or/hub-id] [--max-new-tokens 12]
"""

from __future__ import annotations

import argparse

import torch

from hf_tokens._compat import cache_kwarg
from hf_tokens.assets import load_model
from hf_tokens.assets.text import text_chunks
from hf_tokens.cache.ems import EMSCache
from hf_tokens.cache.h2o import H2OCache
from hf_tokens.cache.sink import SinkCache
from hf_tokens.cache.tidaldecode import TidalDecodeCache
from hf_tokens.cache.tokenselect import TokenSelectCache

CACHES = {
    "h2o": H2OCache,
    "ems": EMSCache,
    "tokenselect": TokenSelectCache,
    "tidaldecode": TidalDecodeCache,
    "sink": SinkCache,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.2, help="fraction of the tokens kept (or attended)")
    parser.add_argument("--model", default=None, help="a Llama/Qwen2/Mistral checkpoint (default: bundled SmolLM2)")
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.model:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(args.model)
    else:
        model, tokenizer = load_model("smollm2-135m")
    filler = text_chunks("jargon", 1, 3000, seed=7)[0]
    prompt = (
        "Remember this: the secret passcode is 48213.\n"
        + filler
        + "\nQuestion: What is the secret passcode mentioned above?\nAnswer: The secret passcode is"
    )
    inputs = tokenizer(prompt, return_tensors="pt")
    print(f"prompt: {inputs['input_ids'].shape[1]} tokens, budget {args.budget:.0%}")
    for name, cache_cls in [("full", None), *CACHES.items()]:
        cache = cache_cls(model.config, budget=args.budget) if cache_cls else None
        out = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False, **{cache_kwarg(): cache})
        answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        size = ""
        if cache is not None:
            stored = cache.layers[0].keys.shape[-2]
            size = f"stored/seen {stored}/{cache.get_seq_length()}, {cache.stored_bytes / 2**20:.2f} MiB"
        print(f"{name:12} {answer!r:40} {size}")


if __name__ == "__main__":
    main()
