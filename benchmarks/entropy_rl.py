"""Entropy-aware RLVR on the bundled SmolLM2-135M with reasoning-gym ``chain_sum`` and a rule-based reward.

Same seed, same step budget for every variant:

* ``grpo`` — plain ``trl.GRPOTrainer`` (the baseline: all tokens);
* ``top20`` — ``EntropyGRPOTrainer`` with the policy gradient on the top-20% entropy tokens (high-entropy-minority);
* ``bottom80`` — the paper's ablation, the other 80%;
* ``clip_cov`` / ``kl_cov`` — entropy-mechanism's Clip-Cov and KL-Cov (paper defaults; KL-Cov with
  ``num_iterations=2``, the others ``num_iterations=1``).

Reported: held-out greedy accuracy before/after, the policy entropy over training (TRL's ``entropy`` metric), the
median step time (generation + loss) of each variant against plain TRL GRPO, and a loss-only overhead measured on
identical inputs (median of repetitions, forward + backward)::

    python benchmarks/entropy_rl.py --quick --json bench_results/entropy_rl.json
    python benchmarks/entropy_rl.py --json bench_results/entropy_rl_full.json --plot bench_results/entropy_rl.png
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from typing import Any

from hf_tokens.benchmarking import Benchmark, add_common_args, measure, setup_torch

VARIANTS: dict[str, dict[str, Any]] = {
    "grpo": {},
    "top20": {"top_entropy_ratio": 0.2},
    "bottom80": {"top_entropy_ratio": 0.2, "entropy_mask_complement": True},
    "clip_cov": {"cov_penalty": "clip_cov"},
    "kl_cov": {"cov_penalty": "kl_cov", "num_iterations": 2},
}
_NUMBER = re.compile(r"-?\d+")


def _problems(n: int, seed: int) -> list[dict[str, Any]]:
    import reasoning_gym

    data = reasoning_gym.create_dataset(
        "chain_sum", size=n, seed=seed, min_terms=2, max_terms=2, min_digits=1, max_digits=1
    )
    return [{"question": e["question"], "answer": e["answer"]} for e in data]


def extract_answer(text: str) -> str | None:
    """The last integer of a completion (the rule-based verifier of chain_sum compares it to the answer)."""
    found = _NUMBER.findall(text)
    return found[-1] if found else None


def correctness_reward(completions: list[Any], answer: list[str], **_: Any) -> list[float]:
    """1.0 when the completion's last integer is the answer, else 0.0."""
    out = []
    for completion, truth in zip(completions, answer):
        text = completion[-1]["content"] if isinstance(completion, list) else completion
        out.append(1.0 if extract_answer(text) == str(truth) else 0.0)
    return out


def accuracy(model: Any, tokenizer: Any, problems: list[dict[str, Any]], max_new_tokens: int, device: str) -> float:
    """Greedy, batched, left-padded generation; share of problems whose last integer is the answer."""
    import torch

    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p["question"]}], tokenize=False, add_generation_prompt=True
        )
        for p in problems
    ]
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    finally:
        tokenizer.padding_side = side
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        out = model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    model.train(was_training)
    answers = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return sum(extract_answer(a) == p["answer"] for a, p in zip(answers, problems)) / len(problems)


def main(argv: list[str] | None = None) -> dict:
    parser = add_common_args(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per variant (quick: 2, full: 12)")
    parser.add_argument("--num-generations", type=int, default=None, help="completions per prompt (4)")
    parser.add_argument("--prompts-per-step", type=int, default=2)
    parser.add_argument("--max-completion-length", type=int, default=None, help="quick 16, full 24")
    parser.add_argument("--eval-size", type=int, default=None, help="held-out problems (quick 16, full 48)")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature of the rollouts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {list(VARIANTS)}")
    parser.add_argument(
        "--save-dir", default=None, help="save each trained EntropyGRPO variant with its model card here"
    )
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        parser.error(f"--variants must be a comma-separated subset of {list(VARIANTS)}, got {args.variants!r}")
    setup_torch(args)

    import tempfile

    import torch
    from datasets import Dataset
    from tqdm import tqdm
    from transformers import set_seed
    from trl import GRPOConfig, GRPOTrainer

    from hf_tokens.assets import load_model
    from hf_tokens.trainers.entropy_grpo import EntropyGRPOConfig, EntropyGRPOTrainer

    steps = args.steps or (2 if args.quick else 12)  # full setting: 12 steps x 2 prompts x 4 completions
    num_gen = args.num_generations or 4
    max_len = args.max_completion_length or (16 if args.quick else 24)
    eval_size = args.eval_size or (16 if args.quick else 48)
    repeats = args.repeats or (3 if args.quick else 5)
    batch = num_gen * args.prompts_per_step
    train = _problems(steps * args.prompts_per_step * 2, seed=1000 + args.seed)
    held_out = _problems(eval_size, seed=args.seed)
    dataset = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": p["question"]}], "answer": p["answer"]} for p in train]
    )
    bench = Benchmark("entropy_rl", args.model, device=args.device, quick=args.quick)
    common = {
        "per_device_train_batch_size": batch,
        "num_generations": num_gen,
        "max_completion_length": max_len,
        "max_steps": steps,
        "learning_rate": args.lr,
        "bf16": False,
        "gradient_checkpointing": False,
        "report_to": "none",
        "logging_steps": 1,
        "save_strategy": "no",
        "seed": args.seed,
        "use_cpu": args.device == "cpu",
        "temperature": args.temperature,
        "disable_tqdm": True,
    }

    model, tokenizer = load_model(args.model)
    acc_before = accuracy(model.to(args.device), tokenizer, held_out, max_len, args.device)
    results: dict[str, dict[str, Any]] = {}
    trainers: dict[str, Any] = {}
    workdir = tempfile.mkdtemp(prefix="entropy_rl_")
    for name in tqdm(variants, desc="variants"):
        set_seed(args.seed)
        model, tokenizer = load_model(args.model)
        model.to(args.device)
        if name == "grpo":
            config: Any = GRPOConfig(output_dir=f"{workdir}/{name}", **common)
            trainer: Any = GRPOTrainer(
                model, [correctness_reward], args=config, train_dataset=dataset, processing_class=tokenizer
            )
        else:
            config = EntropyGRPOConfig(output_dir=f"{workdir}/{name}", **common, **VARIANTS[name])
            trainer = EntropyGRPOTrainer(
                model, [correctness_reward], args=config, train_dataset=dataset, processing_class=tokenizer
            )
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
        logs = [h for h in trainer.state.log_history if "entropy" in h and "step_time" in h]
        results[name] = {
            "acc_after": accuracy(trainer.model, tokenizer, held_out, max_len, args.device),
            "entropy": [h["entropy"] for h in logs],
            "reward": [h["reward"] for h in logs if "reward" in h],
            "step_time": statistics.median(h["step_time"] for h in logs),
            "updated_frac": [h.get("entropy_grpo/updated_frac", 1.0) for h in logs],
            "wall": wall,
        }
        if args.save_dir and name != "grpo":
            trainer.save_for_hub(
                f"{args.save_dir}/{name}",
                overwrite=True,
                base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
                description=f"SmolLM2-135M-Instruct after {steps} RLVR steps on reasoning-gym chain_sum ({name}).",
                metrics=[
                    {
                        "method": name,
                        "metric": "held-out accuracy",
                        "value": results[name]["acc_after"],
                        "baseline": "before training",
                        "baseline_value": acc_before,
                    },
                ],
            )
        trainers[name] = trainer

    base = results.get("grpo")
    for name, r in results.items():
        bench.add(
            name, "held-out accuracy after", r["acc_after"], baseline="before training", baseline_value=acc_before
        )
    for name, r in results.items():
        bench.add(
            name,
            "final policy entropy (nats)",
            r["entropy"][-1],
            baseline="grpo" if base else None,
            baseline_value=base["entropy"][-1] if base else None,
            curve=r["entropy"],
            reward_curve=r["reward"],
            updated_frac=r["updated_frac"],
        )
    for name, r in results.items():
        bench.add(
            name,
            "median step time (s)",
            r["step_time"],
            baseline="grpo" if base else None,
            baseline_value=base["step_time"] if base else None,
        )

    # loss-only overhead on identical inputs: forward + backward of compute_loss, same weights, repetitions
    # interleaved across trainers so that load from other processes spreads evenly over them
    first = trainers[variants[0]]
    gen = torch.Generator().manual_seed(args.seed)
    rows = max(2, batch // 2)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": held_out[0]["question"]}], tokenize=False, add_generation_prompt=True
    )
    prompt_ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids.repeat(rows, 1)
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": torch.ones_like(prompt_ids),
        "completion_ids": torch.randint(0, len(tokenizer), (rows, max_len), generator=gen),
        "completion_mask": torch.ones(rows, max_len, dtype=torch.long),
        "advantages": torch.randn(rows, generator=gen),
        "num_items_in_batch": torch.tensor(float(rows * max_len)),
    }
    inputs = {k: v.to(args.device) for k, v in inputs.items()}
    state = {k: v.detach().clone() for k, v in first.model.state_dict().items()}

    def loss_step(trainer: Any) -> None:
        trainer.current_gradient_accumulation_steps = 1
        trainer.model.train()
        trainer.compute_loss(trainer.model, inputs).backward()
        trainer.model.zero_grad(set_to_none=True)

    for name, kwargs in {
        "entropy(ρ=1, logprob_impl=trl)": {"logprob_impl": "trl"},
        "entropy(ρ=1, logprob_impl=auto)": {"logprob_impl": "auto"},
    }.items():
        config = EntropyGRPOConfig(output_dir=f"{workdir}/x", **common, **kwargs)
        model, _ = load_model(args.model)
        trainers[name] = EntropyGRPOTrainer(
            model.to(args.device), [correctness_reward], args=config, train_dataset=dataset, processing_class=tokenizer
        )
    for trainer in trainers.values():
        trainer.model.load_state_dict(state)
        loss_step(trainer)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in tqdm(range(repeats), desc="loss timing"):
        for name, trainer in trainers.items():
            samples[name].append(measure(lambda t=trainer: loss_step(t), repeats=1, warmup=0).median)
    loss_times = {name: statistics.median(v) for name, v in samples.items()}
    if "grpo" in loss_times:
        for name, seconds in loss_times.items():
            bench.add(name, "loss fwd+bwd time (s)", seconds, baseline="grpo", baseline_value=loss_times["grpo"])
    bench.note(
        f"{steps} steps x {args.prompts_per_step} prompts x {num_gen} completions (<= {max_len} tokens, temperature "
        f"{args.temperature}), lr {args.lr}, seed {args.seed}; held-out: {eval_size} chain_sum problems (1-digit, "
        f"2 terms), greedy; accuracy before training {acc_before:.3f}"
    )
    bench.note(
        "step time = TRL's step_time (generation + loss + optimizer), median over steps; CPU shared with other jobs"
    )
    bench.note(
        f"loss-only time: {rows} x (prompt + {max_len}) tokens, forward + backward, median of {repeats} interleaved "
        "repetitions; same weights for every trainer"
    )
    data = bench.finish(args.json)
    if args.plot:
        from hf_tokens.benchmarking import plot_lines

        plot_lines(
            args.plot,
            {n: (list(range(1, len(r["entropy"]) + 1)), r["entropy"]) for n, r in results.items()},
            xlabel="step",
            ylabel="policy entropy (nats)",
            title=f"chain_sum RLVR on {args.model}",
        )
    return data


if __name__ == "__main__":
    main()
