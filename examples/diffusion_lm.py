"""A masked diffusion LM (LLaDA-style) decoded three ways: plain unmasking, FreeCache, and guided by SmolLM2.

    python examples/diffusion_lm.py                                   # CPU: trains a tiny one for 20 steps
    python examples/diffusion_lm.py --model .cache/diffusion_lm       # the model trained by the training script
    python examples/diffusion_lm.py --steps 5 --out /tmp/dlm          # also save it (card included) into /tmp/dlm
    python examples/diffusion_lm.py --from-smollm2 --steps 10         # start from SmolLM2's weights (Dream-style)

1. builds ``DiffusionLMForMaskedLM`` on SmolLM2's tokenizer + a mask token (new, or a copy of SmolLM2-135M with
   bidirectional attention and shifted logits: ``diffusion_lm_from_causal_lm``), or loads a trained one;
2. trains it ``--steps`` steps with LLaDA's loss (random mask ratio t, 1/t-weighted cross-entropy) on offline text;
3. generates after a prompt with the plain sampler, with FreeCache (frozen keys/values outside the current block) and
   with Guided Diffusion (SmolLM2 verifies the draft left to right), printing the denoising steps each took.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from hf_tokens.assets import load_model
from hf_tokens.models.diffusion_lm.convert import diffusion_lm_from_causal_lm
from hf_tokens.models.diffusion_lm.modeling import DiffusionLMConfig, DiffusionLMForMaskedLM, masked_diffusion_loss
from hf_tokens.models.diffusion_lm.sampling import diffusion_generate
from hf_tokens.models.diffusion_lm.train import token_stream, tokenizer_with_mask

PROMPT = "def add(a, b):\n    return"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="a trained diffusion LM folder (skips training)")
    parser.add_argument("--steps", type=int, default=20, help="training steps of the tiny model")
    parser.add_argument("--from-smollm2", action="store_true", help="adapt a copy of SmolLM2-135M instead")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--out", default=None, help="save the model and its card into this folder")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    tok = tokenizer_with_mask()
    guide, _ = load_model("smollm2-135m")
    if args.model:
        model = DiffusionLMForMaskedLM.from_pretrained(args.model)
    else:
        config = DiffusionLMConfig(
            vocab_size=len(tok), hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=2,
            mask_token_id=tok.mask_token_id,
        )  # fmt: skip
        model = DiffusionLMForMaskedLM(config)
        lr = 3e-3
        if args.from_smollm2:  # the AR model's weights; the loss below adapts them to unmasking
            model, lr = diffusion_lm_from_causal_lm(guide, mask_token_id=tok.mask_token_id).train(), 1e-4
        data, _ = token_stream(tok, 200_000)
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(0)
        for step in range(args.steps):
            starts = torch.randint(0, data.numel() - 64, (8,), generator=gen)
            loss = masked_diffusion_loss(
                model, torch.stack([data[s : s + 64] for s in starts.tolist()]), generator=gen
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 5 == 0 or step == args.steps - 1:
                print(f"step {step}: LLaDA loss {loss.item():.3f}")
    model.eval()
    ids = torch.tensor([tok(PROMPT, add_special_tokens=False)["input_ids"]])
    n = args.new_tokens
    for name, kwargs in (
        ("plain", {"steps": n}),
        ("FreeCache", {"steps": n, "freecache": True}),
        ("guided", {"guide": guide}),
        ("guided+FreeCache", {"guide": guide, "freecache": True}),
    ):
        out, stats = diffusion_generate(model, ids, max_new_tokens=n, block_length=8, **kwargs)
        text = tok.decode(out[0, ids.shape[1] :])
        print(f"{name:>16}: {stats['denoiser_forwards']:2d} denoising steps -> {text!r}")
    if args.out:
        from hf_tokens.hub import save_for_hub

        folder = save_for_hub(model, args.out, method_id="diffusion-lm-cache", tokenizer=tok, overwrite=True,
                              auto_class="AutoModelForMaskedLM")  # fmt: skip
        print(f"saved to {folder}")


if __name__ == "__main__":
    main()
