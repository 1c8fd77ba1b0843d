"""Entropy-aware RLVR on the bundled SmolLM2-135M with reasoning-gym ``chain_sum`` and a rule-based reward.

Same seeds, same step budget for every variant. The default (``--variants grpo,top20``) is the smallest design behind
the high-entropy-minority headline, sized for 2 shared CPU cores (about 50 min with ``--jobs 2`` under load 15);
``--variants all`` scales up to every variant below. The JSON records the CPU budget (wall and CPU seconds per (seed,
variant) pair).

* ``grpo`` — plain ``trl.GRPOTrainer`` (the baseline: all tokens);
* ``top20`` — ``EntropyGRPOTrainer`` with the policy gradient on the top-20% entropy tokens (high-entropy-minority);
* ``bottom80`` — the paper's ablation, the other 80%;
* ``clip_cov`` / ``kl_cov`` — entropy-mechanism's Clip-Cov and KL-Cov (paper defaults; KL-Cov with
  ``num_iterations=2``, the others ``num_iterations=1``).

Task: ``chain_sum`` with 2 terms of 1-2 digits (about 20k distinct problems; the 1-digit task has only 200, too
few for a held-out set). The problem space is split by a hash of the question: held-out problems (``--eval-size``
distinct questions) never occur in any seed's training data. Every (seed, variant) pair trains from the same
weights; ``--jobs`` runs pairs in parallel processes (``--threads`` each).

Reported: held-out greedy accuracy before/after (mean over seeds with a 95% t-interval over seeds, a 95% bootstrap
interval over problems, the per-seed values and the accuracy difference to plain GRPO paired by seed), the policy
entropy over training (TRL's ``entropy`` metric, mean over seeds), the median step time (generation + loss), and
a loss-only overhead measured on identical inputs (median of interleaved repetitions, forward + backward)::

    python benchmarks/entropy_rl.py --quick --json bench_results/entropy_rl_quick.json
    python benchmarks/entropy_rl.py --jobs 2 --json bench_results/entropy_rl_full.json \
        --plot bench_results/entropy_rl.png

Each finished (seed, variant) pair is stored at once under ``--parts`` (default ``<--json>.parts/``); rerunning the
same command after an interruption trains only the missing pairs.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
import statistics
import time
import zlib
from pathlib import Path
from typing import Any

from hf_tokens.benchmarking import Benchmark, add_common_args, mean_t_interval, measure, setup_torch

VARIANTS: dict[str, dict[str, Any]] = {
    "grpo": {},
    "top20": {"top_entropy_ratio": 0.2},
    "bottom80": {"top_entropy_ratio": 0.2, "entropy_mask_complement": True},
    "clip_cov": {"cov_penalty": "clip_cov"},
    "kl_cov": {"cov_penalty": "kl_cov", "num_iterations": 2},
}
# the smallest design behind the high-entropy-minority headline (all tokens vs the top-20% entropy tokens);
# ``--variants all`` adds the bottom-80% ablation and Clip-Cov / KL-Cov
DEFAULT_VARIANTS = ("grpo", "top20")
_NUMBER = re.compile(r"-?\d+")


def held_out(question: str) -> bool:
    """The fixed split of the problem space: a fifth of all questions (by CRC-32) is reserved for evaluation."""
    return zlib.crc32(question.encode()) % 5 == 0


def problems(n: int, seed: int, *, evaluation: bool, max_digits: int) -> list[dict[str, Any]]:
    """``n`` chain_sum problems from one side of the split (distinct questions for evaluation)."""
    import reasoning_gym

    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    size = 4 * n
    while len(out) < n:
        data = reasoning_gym.create_dataset(
            "chain_sum", size=size, seed=seed, min_terms=2, max_terms=2, min_digits=1, max_digits=max_digits
        )
        out, seen = [], set()
        for e in data:
            q = e["question"]
            if held_out(q) != evaluation or (evaluation and q in seen):
                continue
            seen.add(q)
            out.append({"question": q, "answer": e["answer"]})
            if len(out) == n:
                break
        if size > 400 * n:
            raise ValueError(f"cannot draw {n} distinct problems with max_digits={max_digits}; lower --eval-size")
        size *= 2
    return out


def extract_answer(text: str) -> str | None:
    """The last integer of a completion (the rule-based verifier of chain_sum compares it to the answer)."""
    found = _NUMBER.findall(text)
    return found[-1] if found else None


def correctness_reward(completions: list[Any], answer: list[str], **_: Any) -> list[float | None]:
    """1.0 when the completion's last integer is the answer, else 0.0."""
    out: list[float | None] = []
    for completion, truth in zip(completions, answer):
        text = completion[-1]["content"] if isinstance(completion, list) else completion
        out.append(1.0 if extract_answer(text) == str(truth) else 0.0)
    return out


def correct(
    model: Any, tokenizer: Any, items: list[dict[str, Any]], max_new_tokens: int, device: str, batch_size: int = 64
) -> list[bool]:
    """Greedy generation in left-padded batches; whether each problem's last integer is its answer."""
    import torch

    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p["question"]}], tokenize=False, add_generation_prompt=True
        )
        for p in items
    ]
    was_training = model.training
    model.eval()
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    answers: list[str] = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            with torch.inference_mode():
                out = model.generate(
                    **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            answers += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return [extract_answer(a) == p["answer"] for a, p in zip(answers, items)]


def bootstrap_problems(per_seed: list[list[bool]], reps: int = 4000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the seed-mean accuracy when the held-out problems are resampled."""
    rng = random.Random(seed)
    n = len(per_seed[0])
    scores = [sum(col) / len(col) for col in zip(*per_seed)]  # each problem's mean correctness over seeds
    means = sorted(sum(scores[rng.randrange(n)] for _ in range(n)) / n for _ in range(reps))
    return means[int(0.025 * reps)], means[int(0.975 * reps) - 1]


def _grpo_args(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    from hf_tokens._compat import no_checkpointing

    return {
        "per_device_train_batch_size": args.num_generations * args.prompts_per_step,
        "num_generations": args.num_generations,
        "max_completion_length": args.max_completion_length,
        "max_steps": args.steps,
        "learning_rate": args.lr,
        "bf16": False,
        **no_checkpointing(),
        "report_to": "none",
        "logging_steps": 1,
        "save_strategy": "no",
        "seed": seed,
        "use_cpu": args.device == "cpu",
        "temperature": args.temperature,
        "disable_tqdm": True,
    }


def _trainer(
    name: str, args: argparse.Namespace, seed: int, workdir: str, dataset: Any, extra: dict[str, Any] | None = None
) -> Any:
    from trl import GRPOConfig, GRPOTrainer

    from hf_tokens.assets import load_model
    from hf_tokens.trainers.entropy_grpo import EntropyGRPOConfig, EntropyGRPOTrainer

    model, tokenizer = load_model(args.model)
    model.to(args.device)
    common = _grpo_args(args, seed)
    if name == "grpo":
        return GRPOTrainer(
            model,
            [correctness_reward],
            args=GRPOConfig(output_dir=f"{workdir}/{name}", **common),
            train_dataset=dataset,
            processing_class=tokenizer,
        )
    return EntropyGRPOTrainer(
        model,
        [correctness_reward],
        args=EntropyGRPOConfig(
            output_dir=f"{workdir}/{name}", **common, **(VARIANTS[name] if extra is None else extra)
        ),
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def _train_set(args: argparse.Namespace, seed: int) -> Any:
    from datasets import Dataset

    train = problems(args.steps * args.prompts_per_step * 2, 1000 + seed, evaluation=False, max_digits=args.max_digits)
    return Dataset.from_list(
        [{"prompt": [{"role": "user", "content": p["question"]}], "answer": p["answer"]} for p in train]
    )


def run_pair(args: argparse.Namespace, seed: int, name: str, evaluation: list[dict[str, Any]]) -> dict[str, Any]:
    """Train one variant with one seed from the base weights; held-out correctness and training logs."""
    import tempfile

    import torch
    from transformers import set_seed

    torch.set_num_threads(args.threads)
    set_seed(seed)
    trainer = _trainer(name, args, seed, tempfile.mkdtemp(prefix="entropy_rl_"), _train_set(args, seed))
    start, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    wall = time.perf_counter() - start
    logs = [h for h in trainer.state.log_history if "entropy" in h and "step_time" in h]
    hits = correct(trainer.model, trainer.processing_class, evaluation, args.max_completion_length, args.device)
    cpu = time.process_time() - cpu  # training + held-out evaluation, this process's CPU seconds
    if args.save_dir and name != "grpo" and seed == args.seed_list[0]:
        trainer.save_for_hub(
            f"{args.save_dir}/{name}",
            overwrite=True,
            base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
            description=f"SmolLM2-135M-Instruct after {args.steps} RLVR steps on reasoning-gym chain_sum ({name}).",
        )
    return {
        "seed": seed,
        "name": name,
        "correct": hits,
        "entropy": [h["entropy"] for h in logs],
        "reward": [h["reward"] for h in logs if "reward" in h],
        "step_time": statistics.median(h["step_time"] for h in logs),
        "updated_frac": [h.get("entropy_grpo/updated_frac", 1.0) for h in logs],
        "wall": wall,
        "cpu": cpu,
    }


def _fingerprint(args: argparse.Namespace, evaluation: list[dict[str, Any]]) -> dict[str, Any]:
    """The settings a stored (seed, variant) result depends on; a part with other settings is not reused."""
    keys = ("model", "steps", "num_generations", "prompts_per_step", "max_completion_length", "max_digits", "lr")
    questions = "\n".join(p["question"] for p in evaluation)
    return {
        **{k: getattr(args, k) for k in (*keys, "temperature", "device")},
        "evaluation_crc32": zlib.crc32(questions.encode()),
        "problems": len(evaluation),
    }


def _part_path(args: argparse.Namespace, seed: int | str, name: str) -> Path | None:
    return Path(args.parts) / f"seed{seed}_{name}.json" if args.parts else None


def _load_part(
    args: argparse.Namespace, seed: int | str, name: str, fingerprint: dict[str, Any]
) -> dict[str, Any] | None:
    """A finished (seed, variant) result of an earlier, interrupted run with the same settings, if any."""
    path = _part_path(args, seed, name)
    if path is None or not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    return stored["result"] if stored.get("fingerprint") == fingerprint else None


def _save_part(args: argparse.Namespace, result: dict[str, Any], fingerprint: dict[str, Any]) -> None:
    """Write one finished pair atomically (a killed run leaves either the whole part or none)."""
    path = _part_path(args, result["seed"], result["name"])
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "result": result}), encoding="utf-8")
    os.replace(tmp, path)


def _run_all(args: argparse.Namespace, variants: list[str], evaluation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (seed, variant) pair; pairs stored under ``--parts`` by an earlier run with the same settings are
    read back instead of retrained, and each newly finished pair is stored there at once."""
    from tqdm import tqdm

    fingerprint = _fingerprint(args, evaluation)
    done: dict[tuple[int, str], dict[str, Any]] = {}
    todo = []
    for seed in args.seed_list:
        for name in variants:
            part = _load_part(args, seed, name, fingerprint)
            if part is None:
                todo.append((seed, name))
            else:
                done[seed, name] = part
    if done:
        print(f"resuming: {len(done)} of {len(done) + len(todo)} (seed, variant) pairs read from {args.parts}")
    bar = tqdm(total=len(todo), desc="seed x variant")
    if args.jobs == 1:
        for seed, name in todo:
            result = run_pair(args, seed, name, evaluation)
            _save_part(args, result, fingerprint)
            done[seed, name] = result
            bar.update()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_pair, args, s, n, evaluation) for s, n in todo]
            for future in as_completed(futures):
                result = future.result()
                _save_part(args, result, fingerprint)
                done[result["seed"], result["name"]] = result
                bar.update()
    bar.close()
    return [done[s, n] for s in args.seed_list for n in variants]


def _loss_overhead(args: argparse.Namespace, variants: list[str], item: dict[str, Any], repeats: int) -> dict:
    """Median forward + backward time of compute_loss per trainer on identical inputs and weights."""
    import tempfile

    import torch

    workdir = tempfile.mkdtemp(prefix="entropy_rl_loss_")
    dataset = _train_set(args, args.seed_list[0])
    trainers = {name: _trainer(name, args, args.seed_list[0], workdir, dataset) for name in variants}
    for impl in ("trl", "auto") if set(variants) >= set(VARIANTS) else ():  # log-prob path check: full design only
        name = f"entropy(ρ=1, logprob_impl={impl})"
        trainers[name] = _trainer(name, args, args.seed_list[0], workdir, dataset, {"logprob_impl": impl})
    tokenizer = trainers[variants[0]].processing_class
    gen = torch.Generator().manual_seed(0)
    rows, max_len = max(2, args.num_generations * args.prompts_per_step // 2), args.max_completion_length
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": item["question"]}], tokenize=False, add_generation_prompt=True
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

    def loss_step(trainer: Any) -> None:
        trainer.current_gradient_accumulation_steps = 1
        trainer.model.train()
        trainer.compute_loss(trainer.model, inputs).backward()
        trainer.model.zero_grad(set_to_none=True)

    for trainer in trainers.values():
        loss_step(trainer)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in trainers}
    order = list(trainers)
    for rep in range(repeats):  # interleaved, so that load from other processes spreads over every trainer
        for name in order[rep % len(order) :] + order[: rep % len(order)]:  # rotated: no trainer always runs first
            samples[name].append(measure(functools.partial(loss_step, trainers[name]), repeats=1, warmup=0).median)
    return {"rows": rows, "times": {name: statistics.median(v) for name, v in samples.items()}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = add_common_args(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per variant (quick: 2, full: 5)")
    parser.add_argument("--num-generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--prompts-per-step", type=int, default=2)
    parser.add_argument("--max-completion-length", type=int, default=None, help="quick 16, full 24")
    parser.add_argument("--eval-size", type=int, default=None, help="held-out problems (quick 32, full 200)")
    parser.add_argument("--max-digits", type=int, default=2, help="digits per term of the chain_sum problems")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature of the rollouts")
    parser.add_argument("--seeds", default=None, help="comma-separated training seeds (quick: 0, full: 0,1,2)")
    parser.add_argument("--jobs", type=int, default=1, help="(seed, variant) pairs trained in parallel processes")
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated subset of {list(VARIANTS)}, or 'all' (default: the headline's two arms)",
    )
    parser.add_argument(
        "--parts",
        default=None,
        help="folder for each finished (seed, variant) result, reused by a rerun with the same settings "
        "(default: <--json>.parts; 'none' keeps nothing)",
    )
    parser.add_argument(
        "--loss-timing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time each trainer's loss on identical inputs after training (--no-loss-timing: only aggregate)",
    )
    parser.add_argument(
        "--save-dir", default=None, help="save each trained EntropyGRPO variant of the first seed with its card here"
    )
    args = parser.parse_args(argv)
    names = ",".join(VARIANTS) if args.variants.strip() == "all" else args.variants
    args.variant_list = [v.strip() for v in names.split(",") if v.strip()]
    if not args.variant_list or any(v not in VARIANTS for v in args.variant_list):
        parser.error(f"--variants must be a comma-separated subset of {list(VARIANTS)}, got {args.variants!r}")
    try:
        args.seed_list = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if len(set(args.seed_list)) != len(args.seed_list):
        parser.error(f"--seeds must be distinct, got {args.seeds!r}")
    if args.jobs < 1 or args.max_digits < 1:
        parser.error("--jobs and --max-digits must be >= 1")
    args.steps = args.steps or (2 if args.quick else 5)  # full: 5 steps x 2 prompts x 4 completions
    args.max_completion_length = args.max_completion_length or (16 if args.quick else 24)
    args.eval_size = args.eval_size or (32 if args.quick else 200)
    args.repeats = args.repeats or 4
    if args.parts is None and args.json:
        args.parts = f"{args.json}.parts"
    if args.parts in ("none", ""):
        args.parts = None
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    setup_torch(args)
    from hf_tokens.assets import load_model

    variants, seeds = args.variant_list, args.seed_list
    evaluation = problems(args.eval_size, 10_000, evaluation=True, max_digits=args.max_digits)
    bench = Benchmark("entropy_rl", args.model, device=args.device, quick=args.quick)
    start = time.perf_counter()
    fingerprint = _fingerprint(args, evaluation)
    stored = _load_part(args, "base", "before", fingerprint)  # the untrained model's held-out correctness
    if stored is None:
        model, tokenizer = load_model(args.model)
        stored = {"seed": "base", "name": "before"}
        stored["correct"] = correct(
            model.to(args.device), tokenizer, evaluation, args.max_completion_length, args.device
        )
        _save_part(args, stored, fingerprint)
        del model
    before = stored["correct"]
    acc_before = sum(before) / len(before)
    runs = _run_all(args, variants, evaluation)
    by = {(r["name"], r["seed"]): r for r in runs}

    def per_seed(name: str) -> list[float]:
        return [sum(by[name, s]["correct"]) / len(evaluation) for s in seeds]

    for name in variants:
        mean, lo, hi = mean_t_interval(per_seed(name))
        plo, phi = bootstrap_problems([by[name, s]["correct"] for s in seeds])
        bench.add(
            name,
            "held-out accuracy after",
            mean,
            baseline="before training",
            baseline_value=acc_before,
            ci95_seeds=[lo, hi],
            ci95_problems=[plo, phi],
            per_seed=per_seed(name),
            seeds=seeds,
            n_seeds=len(seeds),
            problems=len(evaluation),
            steps=args.steps,
        )
    if "grpo" in variants:
        for name in variants:
            if name == "grpo":
                continue
            diffs = [a - b for a, b in zip(per_seed(name), per_seed("grpo"))]
            mean, lo, hi = mean_t_interval(diffs)
            bench.add(
                name,
                "held-out accuracy minus grpo (paired by seed)",
                mean,
                ci95_seeds=[lo, hi],
                per_seed=diffs,
                n_seeds=len(seeds),
                problems=len(evaluation),
            )
    base = "grpo" if "grpo" in variants else None
    curves = {n: [statistics.fmean(v) for v in zip(*(by[n, s]["entropy"] for s in seeds))] for n in variants}
    for name in variants:
        bench.add(
            name,
            "final policy entropy (nats)",
            curves[name][-1],
            baseline=base,
            baseline_value=curves[base][-1] if base else None,
            curve=curves[name],
            per_seed=[by[name, s]["entropy"][-1] for s in seeds],
            reward_curves=[by[name, s]["reward"] for s in seeds],
            updated_frac=[by[name, s]["updated_frac"] for s in seeds],
        )
    steps = {n: statistics.median(by[n, s]["step_time"] for s in seeds) for n in variants}
    for name in variants:
        bench.add(
            name,
            "median step time (s)",
            steps[name],
            baseline=base,
            baseline_value=steps[base] if base else None,
            per_seed=[by[name, s]["step_time"] for s in seeds],
        )
    walls = {f"seed{r['seed']}_{r['name']}": r["wall"] for r in runs}
    cpus = {f"seed{r['seed']}_{r['name']}": r.get("cpu") for r in runs}
    bench.add(
        "all",
        "CPU budget: training wall time summed over (seed, variant) pairs (s)",
        sum(walls.values()),
        pairs=len(runs),
        jobs=args.jobs,
        threads_per_job=args.threads,
        wall_per_pair=walls,
        cpu_seconds_per_pair=cpus,
        cpu_seconds=sum(c for c in cpus.values() if c is not None),
        variants_run=variants,
        variants_available=list(VARIANTS),
        scale_up="--variants all (adds bottom80, clip_cov, kl_cov)",
    )
    # the loss-only timing (identical inputs, no training) also covers Clip-Cov and KL-Cov when they were not trained
    # (bottom80 costs what top20 does: the same mask)
    timed = list(dict.fromkeys(["grpo", *variants, "clip_cov", "kl_cov"]))
    loss = _loss_overhead(args, timed, evaluation[0], args.repeats) if args.loss_timing else None
    times: dict[str, float] = loss["times"] if loss else {}
    for name, seconds in times.items():
        bench.add(
            name, "loss fwd+bwd time (s)", seconds, baseline="grpo", baseline_value=times["grpo"], repeats=args.repeats
        )
    bench.note(
        f"{args.steps} steps x {args.prompts_per_step} prompts x {args.num_generations} completions (<= "
        f"{args.max_completion_length} tokens, temperature {args.temperature}), lr {args.lr}, seeds {seeds}; "
        f"held-out: {len(evaluation)} distinct chain_sum problems (2 terms of 1-{args.max_digits} digits) that no "
        f"training set contains, greedy; accuracy before training {acc_before:.3f}"
    )
    bench.note(
        "accuracy rows: value = mean over seeds; ci95_seeds = Student-t 95% interval over the seeds (training "
        "noise); ci95_problems = 95% bootstrap interval over the held-out problems (evaluation noise)"
    )
    bench.note(
        f"step time = TRL's step_time (generation + loss + optimizer), median over steps and seeds; {args.jobs} "
        f"parallel process(es) x {args.threads} thread(s), CPU shared with other jobs; training wall time "
        f"summed over the pairs {sum(r['wall'] for r in runs):.0f} s; this invocation "
        f"{time.perf_counter() - start:.0f} s"
    )
    bench.note(
        "loss-only time: not measured in this invocation (--no-loss-timing)"
        if loss is None
        else f"loss-only time: {loss['rows']} x (prompt + {args.max_completion_length}) tokens, forward + backward, "
        f"median of {args.repeats} interleaved repetitions; same weights for every trainer"
    )
    data = bench.finish(args.json)
    if args.plot:
        from hf_tokens.benchmarking import plot_lines

        plot_lines(
            args.plot,
            {n: (list(range(1, len(c) + 1)), c) for n, c in curves.items()},
            xlabel="step",
            ylabel=f"policy entropy (nats, mean of {len(seeds)} seeds)",
            title=f"chain_sum RLVR on {args.model}",
        )
    return data


if __name__ == "__main__":
    main()
