"""Zero-shot tokenizer transfer with a ZeTT hypernetwork: train it briefly (or load one), move SmolLM2 to GPT-2's
tokenizer, compare with the mean-of-subtokens baseline, save the transplanted model and the hypernetwork.

    python examples/zett_transfer.py --steps 20                            # train 20 steps here, then transfer
    python examples/zett_transfer.py --hypernetwork .cache/zett-smollm2    # one from benchmarks/zett_train.py
    python examples/zett_transfer.py --steps 20 --target mistral --out zett-out

The saved folders (``<out>/model`` and ``<out>/hypernetwork``) carry model cards; ``from_pretrained`` reloads the
model and ``hf_tokens.tokenizers.zett.load_hypernetwork`` the hypernetwork.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hypernetwork", type=Path, default=None, help="a saved hypernetwork (else train one here)")
    parser.add_argument("--steps", type=int, default=20, help="training steps when no --hypernetwork is given")
    parser.add_argument("--batch-texts", type=int, default=4, help="texts per training step")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per training text")
    parser.add_argument("--target", default="gpt2", help="gpt2, qwen3 or mistral")
    parser.add_argument("--out", type=Path, default=None, help="save the model and the hypernetwork here")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from hf_tokens.assets import load_model, load_tokenizer
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.tokenizers import nll_per_char, transplant
    from hf_tokens.tokenizers.zett import ZettHypernetwork, ZettTrainingConfig, load_hypernetwork, train_hypernetwork

    model, tokenizer = load_model("smollm2-135m")
    config = ZettTrainingConfig(steps=args.steps, batch_texts=args.batch_texts, seq_len=args.seq_len)
    if args.hypernetwork is not None:
        net = load_hypernetwork(args.hypernetwork)
    else:
        net = ZettHypernetwork.for_model(model, tokenizer)
        history = train_hypernetwork(net, model, tokenizer, config)
        print(f"trained {len(history)} steps: LM loss {history[0]['lm']:.3f} -> {history[-1]['lm']:.3f}")

    target = load_tokenizer(args.target)
    zett_model, new_tokenizer = transplant(model, tokenizer, target, method="zett", hypernetwork=net, progress=print)
    mean_model, _ = transplant(model, tokenizer, target, "mean")
    text = text_chunks("fortunes", 1, 1500, seed=7)[0]
    base = nll_per_char(model, tokenizer, text)
    for name, m in (("zett", zett_model), ("mean", mean_model)):
        ratio = math.exp(nll_per_char(m, new_tokenizer, text) - base)
        print(f"{name:>6}: perplexity per character {ratio:.3f}x the original model's")

    if args.out:
        from hf_tokens.hub import save_for_hub

        base_model = "HuggingFaceTB/SmolLM2-135M-Instruct"
        save_for_hub(
            zett_model, args.out / "model", method_id="zett", tokenizer=new_tokenizer, overwrite=True,
            source_tokenizer=args.target, base_model=base_model,
            description="Shared tokens keep their embeddings; new ones are predicted by a ZeTT hypernetwork.",
        )  # fmt: skip
        save_for_hub(
            net, args.out / "hypernetwork", method_id="zett", config=config, overwrite=True, base_model=base_model,
            description="A ZeTT embedding hypernetwork: hf_tokens.tokenizers.zett.load_hypernetwork(path).",
        )  # fmt: skip
        print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
