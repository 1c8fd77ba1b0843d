"""Cut Cross-Entropy: fine-tune a causal LM with LoRA without materialising the [tokens x vocab] logits.

    python examples/linear_cross_entropy.py                       # bundled SmolLM2-135M, CPU, 3 steps
    python examples/linear_cross_entropy.py --model HuggingFaceTB/SmolLM2-360M --steps 20 --out /tmp/cce-lora

1. the loss of one batch, standard vs Cut Cross-Entropy (same value, peak memory of the loss forward + backward),
2. a few LoRA steps inside ``cut_cross_entropy_loss(model)`` (scoped: the model is unchanged afterwards),
3. per-token log-probabilities and entropies from the hidden states, as an RL trainer would use them,
4. the model card of the fine-tuned model, which names the loss; with ``--out`` the LoRA adapter and the card are
   saved into that folder (nothing is written without it).
"""

from __future__ import annotations

import argparse
import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from hf_tokens.benchmarking import peak_allocated_bytes
from hf_tokens.ops.linear_cross_entropy import cut_cross_entropy_loss, linear_log_probs_and_entropy
from hf_tokens.ops.linear_cross_entropy.fused_loss import fused_chunk_tokens
from hf_tokens.ops.linear_cross_entropy.hf import model_card


def load(name: str):
    if name == "smollm2-135m":
        from hf_tokens.assets import load_model

        return load_model("smollm2-135m")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(name), AutoTokenizer.from_pretrained(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="bundled id or a Hub/local causal LM")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", default=None, help="save the LoRA adapter and its model card into this folder")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

    from peft import LoraConfig, get_peft_model

    from hf_tokens.assets.text import text_chunks

    model, tok = load(args.model)
    texts = text_chunks("jargon", args.batch * max(args.steps, 1), 600)
    enc = tok(texts, return_tensors="pt", truncation=True, max_length=args.max_length, padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    batch = {"input_ids": enc["input_ids"][: args.batch], "attention_mask": enc["attention_mask"][: args.batch]}
    batch_labels = labels[: args.batch]
    vocab = model.get_output_embeddings().weight.shape[0]
    print(f"model {args.model}: vocab {vocab}, batch {tuple(batch['input_ids'].shape)}")

    # 1. same loss; memory of the loss forward + backward beyond the backbone
    model.train()
    hidden = model.model(**batch).last_hidden_state.detach().requires_grad_(True)
    head = model.get_output_embeddings()

    def standard() -> None:
        logits = head(hidden)
        loss = model.loss_function(logits=logits, labels=batch_labels, vocab_size=vocab)
        loss.backward()

    from hf_tokens.ops.linear_cross_entropy import linear_cross_entropy

    def cce() -> None:
        linear_cross_entropy(hidden, head.weight, batch_labels, shift=True).backward()

    with torch.no_grad():
        ref = model(**batch, labels=batch_labels).loss.item()
    with cut_cross_entropy_loss(model), torch.no_grad():
        ours = model(**batch, labels=batch_labels).loss.item()
    grads = (hidden.numel() + head.weight.numel()) * 4 / 2**20  # dL/dhidden and dL/dW: outputs of both
    mem_std, mem_cce = peak_allocated_bytes(standard) / 2**20 - grads, peak_allocated_bytes(cce) / 2**20 - grads
    print(f"loss standard {ref:.5f} | cut cross-entropy {ours:.5f}")
    print(f"loss fwd+bwd memory beyond the gradients: standard {mem_std:.1f} MB | cut cross-entropy {mem_cce:.1f} MB")
    tokens = hidden.shape[0] * (hidden.shape[1] - 1)
    print(
        f"  (the CPU training path holds one float32 block of at most {fused_chunk_tokens(tokens, vocab)} of the "
        f"{tokens} tokens x the vocabulary: the saving grows with the batch)"
    )

    # 2. LoRA fine-tuning inside the scoped context
    with warnings.catch_warnings():  # peft (<= 0.21.2) reads transformers' deprecated `is_gradient_checkpointing`
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        peft_model = get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=2e-4)
    with cut_cross_entropy_loss(peft_model):
        for step in range(args.steps):
            sl = slice(step * args.batch, (step + 1) * args.batch)
            out = peft_model(
                input_ids=enc["input_ids"][sl], attention_mask=enc["attention_mask"][sl], labels=labels[sl]
            )
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            print(f"step {step}: loss {out.loss.item():.4f} (logits built: {out.logits is not None})")

    # 3. per-token log-probs and entropies for RL, from hidden states only
    with torch.no_grad():
        h = peft_model.get_base_model().model(**batch).last_hidden_state[:, :-1]
        logp, ent = linear_log_probs_and_entropy(h, head.weight, batch["input_ids"][:, 1:])
    print(f"first tokens: log p {logp[0, :5].tolist()}\n              entropy {ent[0, :5].tolist()}")

    # 4. the card of the fine-tuned model names the loss
    card = model_card(base_model="HuggingFaceTB/SmolLM2-135M-Instruct" if args.model == "smollm2-135m" else args.model)
    print("model card mentions Cut Cross-Entropy:", "Cut Cross-Entropy" in card.content)
    if args.out:
        peft_model.save_pretrained(args.out)
        card.save(os.path.join(args.out, "README.md"))  # replaces PEFT's generic card
        print("saved the adapter and its card to", args.out)


if __name__ == "__main__":
    main()
