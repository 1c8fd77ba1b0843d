"""Models beyond fixed subword tokens, in one minute on a CPU: a Markov source's entropy rate, a byte-level HAT, a
word-pooled (Learn Your Tokens) and a lexinvariant LM trained for a few steps on offline text, and equal-info-window
tokens from the trained byte model with an exact round trip.

python examples/token_free.py --steps 30 --output /tmp/token_free   # --output: where checkpoints go (optional)
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30, help="training steps per model")
    parser.add_argument("--output", type=Path, default=None, help="save the trained models here (save_for_hub)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from hf_tokens.analysis.equal_info_windows import EqualInfoWindowsTokenizer
    from hf_tokens.analysis.tokenization_theory import MarkovSource
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.models.hierarchical_ar import HierarchicalARConfig, HierarchicalARForCausalLM
    from hf_tokens.models.learn_your_tokens import LearnYourTokensConfig, LearnYourTokensForCausalLM
    from hf_tokens.models.lexinvariant import LexinvariantConfig, LexinvariantForCausalLM
    from hf_tokens.models.lm_training import TrainingBudget, stream_nll, train_on_stream

    source = MarkovSource(order=3, p=0.8, q=0.8)
    print(f"k=3 switch source: entropy rate {source.entropy_rate():.3f} bits, unigram {source.unigram_entropy():.3f}")

    train, test = text_chunks("fortunes", 20, 1000, seed=0), text_chunks("fortunes", 2, 1000, seed=99)
    train_ids = torch.tensor(list("".join(train).encode()))
    test_ids = torch.tensor(list("".join(test).encode()))
    torch.manual_seed(0)  # model initialisation too: the example prints the same numbers on every run
    sizes = {"byte_dim": 32, "word_dim": 64, "heads": 4, "backbone_layers": 1, "max_words": 129}
    models = {
        "hierarchical-ar": HierarchicalARForCausalLM(HierarchicalARConfig(**sizes)),
        "learn-your-tokens": LearnYourTokensForCausalLM(LearnYourTokensConfig(**sizes)),
        "lexinvariant": LexinvariantForCausalLM(
            LexinvariantConfig(
                vocab_size=256,
                hidden_size=64,
                intermediate_size=128,
                num_hidden_layers=1,
                num_attention_heads=4,
                num_key_value_heads=4,
                max_position_embeddings=129,
            )
        ),
    }
    budget = TrainingBudget(steps=args.steps, batch_size=8, warmup=min(10, args.steps))
    for name, model in models.items():
        torch.manual_seed(0)
        train_on_stream(model, train_ids, seq_len=128, budget=budget, loss_fn=lambda m, w: m(w, labels=w).loss)
        bpb = float(stream_nll(model, test_ids, seq_len=128).mean()) / math.log(2)
        out = model.generate(test_ids[None, :40], max_new_tokens=16, do_sample=False)[0, 40:]
        print(f"{name:18s} held-out {bpb:.2f} bits/byte; continues {bytes(out.tolist())!r}")
        if args.output is not None:
            from hf_tokens.hub import save_for_hub

            training = f"examples/token_free.py: {args.steps} steps x 8 x 128 bytes of fortunes"
            save_for_hub(model, args.output / name, method_id=name, overwrite=True, training=training)

    tok = EqualInfoWindowsTokenizer(models["hierarchical-ar"], window_bits=32, token_bits=8)
    text = test[0][:120]
    enc = tok.encode(text)
    assert tok.decode(enc.tokens) == text.encode()
    print(f"equal-info windows: {len(text)} bytes -> {enc.num_windows} windows of 32 bits = {len(enc.tokens)} tokens")


if __name__ == "__main__":
    main()
