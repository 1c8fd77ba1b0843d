"""Move a causal LM to another tokenizer with TokenAdapt, compare it with the mean baseline, save it for the Hub.

    python examples/tokenizer_transfer.py                       # bundled SmolLM2-135M -> GPT-2 tokenizer
    python examples/tokenizer_transfer.py --target mistral --out transplanted-smollm2
    python examples/tokenizer_transfer.py --model HuggingFaceTB/SmolLM2-360M --target qwen3   # any local/Hub model

The saved folder holds the model, the new tokenizer and a model card (README.md); ``from_pretrained`` reloads it.
"""

from __future__ import annotations

import argparse
import math

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model id or folder (default: the bundled SmolLM2-135M)")
    parser.add_argument("--target", default="gpt2", help="gpt2, qwen3, mistral, or a tokenizer id/folder")
    parser.add_argument("--out", default=None, help="save the transplanted model + tokenizer + card here")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_tokens.assets import TOKENIZERS, load_model, load_tokenizer
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.tokenizers import nll_per_char, transplant
    from hf_tokens.tokenizers.tokenadapt import TokenAdaptConfig

    if args.model is None:
        model, tokenizer = load_model("smollm2-135m")
    else:
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(args.model)
    target = load_tokenizer(args.target) if args.target in TOKENIZERS else AutoTokenizer.from_pretrained(args.target)

    config = TokenAdaptConfig()  # the paper's defaults: top_k=3, temperature=0.3, global_weight=0.3
    new_model, new_tokenizer = transplant(model, tokenizer, target, "tokenadapt", config=config, progress=print)
    mean_model, _ = transplant(model, tokenizer, target, "mean")

    text = text_chunks("fortunes", 1, 1500, seed=7)[0]
    base = nll_per_char(model, tokenizer, text)
    for name, m in (("tokenadapt", new_model), ("mean", mean_model)):
        ratio = math.exp(nll_per_char(m, new_tokenizer, text) - base)
        print(f"{name:>10}: perplexity per character {ratio:.3f}x the original model's")

    prompt = "The capital of France is"
    ids = new_tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = new_model.generate(**ids, max_new_tokens=12, do_sample=False)
    print(repr(new_tokenizer.decode(out[0])))

    if args.out:
        from hf_tokens.hub import save_for_hub

        folder = save_for_hub(
            new_model, args.out, method_id="tokenadapt", tokenizer=new_tokenizer, config=config, overwrite=True,
            source_tokenizer=args.target, base_model=args.model or "HuggingFaceTB/SmolLM2-135M-Instruct",
            description="Embeddings of tokens shared with the original tokenizer are copied exactly; new tokens "
            "are initialised with TokenAdapt's hybrid heuristic, without any training.",
        )  # fmt: skip
        print(f"saved to {folder}")


if __name__ == "__main__":
    main()
