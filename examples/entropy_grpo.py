"""Entropy-aware GRPO on the bundled SmolLM2-135M: which tokens are "forks", then a few RLVR steps that update only
the top-20% entropy tokens (or Clip-Cov / KL-Cov), and a model card for the result.

python examples/entropy_grpo.py [--steps 2] [--mode top20|bottom80|clip_cov|kl_cov] [--out entropy-grpo-smollm2]

Nothing is written unless ``--out`` is given: the trainer's working folder is a temporary one, and ``--out`` receives
the trained model, its tokenizer and its model card.
"""

from __future__ import annotations

import argparse
import re
import tempfile

import torch

MODES = {
    "top20": {"top_entropy_ratio": 0.2},
    "bottom80": {"top_entropy_ratio": 0.2, "entropy_mask_complement": True},
    "clip_cov": {"cov_penalty": "clip_cov"},
    "kl_cov": {"cov_penalty": "kl_cov", "num_iterations": 2},
}


def reward(completions, answer, **_):
    """1.0 when the last integer of the completion is the answer (chain_sum's rule-based check)."""
    out = []
    for completion, truth in zip(completions, answer):
        numbers = re.findall(r"-?\d+", completion[-1]["content"])
        out.append(float(bool(numbers) and numbers[-1] == truth))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--mode", choices=sorted(MODES), default="top20")
    parser.add_argument("--out", default=None, help="save the trained model with its model card to this folder")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import reasoning_gym
    from datasets import Dataset

    from hf_tokens._compat import no_checkpointing
    from hf_tokens.assets import load_model
    from hf_tokens.trainers.entropy_grpo import EntropyGRPOConfig, EntropyGRPOTrainer
    from hf_tokens.trainers.entropy_grpo.analysis import forking_token_report

    model, tokenizer = load_model("smollm2-135m")
    problems = reasoning_gym.create_dataset("chain_sum", size=16, seed=1, min_terms=2, max_terms=2, max_digits=1)

    # 1. per-token entropy of the model's own answers: a minority of tokens carries most of the uncertainty
    report = forking_token_report(model, tokenizer, [p["question"] for p in list(problems)[:4]], max_new_tokens=24)
    print(report)

    # 2. GRPO whose policy gradient flows only through the selected tokens
    dataset = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": p["question"]}], "answer": p["answer"]} for p in problems]
    )
    workdir = tempfile.TemporaryDirectory(prefix="entropy-grpo-")  # TRL's output_dir: checkpoints are off
    config = EntropyGRPOConfig(
        output_dir=workdir.name,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=16,
        max_steps=args.steps,
        learning_rate=1e-5,
        temperature=0.7,
        bf16=False,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        **no_checkpointing(),  # activation checkpointing off, under the name this transformers release uses
        **MODES[args.mode],
    )
    trainer = EntropyGRPOTrainer(model, [reward], args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    for log in trainer.state.log_history:
        if "entropy" in log:
            print(
                f"entropy {log['entropy']:.3f}  updated tokens {log.get('entropy_grpo/updated_frac', 1):.2f}  "
                f"reward {log.get('reward', float('nan')):.2f}  covariance mean {log.get('cov/mean', 0):.4f}"
            )

    # 3. weights, tokenizer and a model card naming the paper and this config
    if args.out:
        print("saved to", trainer.save_for_hub(args.out, overwrite=True))
    workdir.cleanup()


if __name__ == "__main__":
    main()
