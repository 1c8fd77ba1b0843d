"""Generation II benchmarks: Entropy Adaptive Decoding on the Qwen2.5-Coder 0.5B/1.5B pair (``ead``) and SkipDecode
schedules on a fine-tuned SmolLM2 (``skipdecode``).

``ead``: arithmetic problems from ``reasoning-gym`` (``chain_sum`` and ``basic_arithmetic``, small settings, seeded),
asked through the chat template either for the final number only (``--prompt answer``: a few tokens) or for a brief
worked solution ending in an ``Answer:`` line (``--prompt steps``: the paper's setting, a reasoning chain in which
most tokens are easy and a few carry the arithmetic); greedy decoding, batch size 1. Arms, each run on every
problem in the same process, back to back per problem (same load for all arms):

* large only (plain ``generate`` of the 1.5B) — the baseline of every ratio; small only (plain ``generate`` of the
  0.5B); EAD at each ``--thresholds`` value (``window`` fixed); transformers' assisted decoding of the 1.5B with the
  0.5B as assistant (lossless: same answers as large only, measured for its wall-clock).
* ``--assistant-tokens N`` makes the assistant draft exactly N tokens per step (constant schedule, no confidence
  stop): on 4 worked-solution problems (a diagnostic on a loaded machine, not a committed result) N=5 took 0.78x
  large-only's time and 0.49x that of transformers' default assistant settings, so the default arm is not the
  strongest assisted baseline; the committed worked-solution run uses N=5.
* Every arm runs inside ``onednn_linears(large, small)``: multi-token forwards (prompts, EAD's catch-ups, assisted
  decoding's verification) on oneDNN, one-token steps on PyTorch's stock kernel, the same for all arms.
* Reported per arm: accuracy (reasoning-gym's ``score_answer`` on the number after the last ``Answer:``, else the
  last number of the output; it gives partial credit to near misses such as a wrong sign), with a 95% paired-bootstrap
  interval over problems of its difference to large only, agreement with
  large-only output (identical token sequences), the large model's share of generated tokens, wall-clock seconds
  summed over problems and tokens/s, and an estimated compute ratio: parameters (input embeddings excluded) x tokens
  forwarded by each model (prompt and catch-up included) over the large-only run's; and each arm's time against
  assisted decoding's per problem (geometric mean with a 95% paired-bootstrap interval over problems).

One repetition per problem (the 1.5B in fp32 takes ~0.45 s per token on one thread here): the wall-clock ratios
are over the sum of all problems, not medians of repeated runs. The JSON keeps each problem's record (score, tokens,
seconds per arm and the decoded text). Finished problems are kept in ``<json>.partial`` (``PartialRun``): the
same command, stopped part-way, resumes without measuring them again, and ``--merge`` reads a ``.partial`` file as
the problems it finished. ``--shard K/N`` runs problems K, K+N, ... of the same seeded list, so N one-thread
processes share the cores; ``--merge`` builds the rows of the whole set from their JSON files (same settings, no
problem twice). The seeded list's first n problems do not depend on ``--problems``, so ``--problems 100 --start 64``
extends a 64-problem run and the two merge.

``skipdecode``: two schedules (``SCHEDULES``: mild 30 -> 18 and aggressive 24 -> 12 active layers over 64
positions, one warm-up layer). For each, SmolLM2 is fine-tuned with the schedule (``SkipDecodeSFTTrainer``,
``--train-steps`` steps: the CPU budget) on Jargon File passages and saved with ``save_for_hub`` under ``--out``
(git-ignored). Reported: held-out perplexity of the positions after a 32-token full-depth prefix (plain model,
schedule without and with fine-tuning, fine-tuned model at full depth); greedy generation speed-up over plain greedy
``generate`` (median of ``--repeats`` runs per prompt, summed over prompts), the perplexity of each continuation
under the original model and token agreement with plain greedy, and transformers' ``assistant_early_exit``
(LayerSkip self-speculation, lossless) on the same prompts.

    for k in 0 1; do OMP_NUM_THREADS=1 python benchmarks/generation2.py ead --problems 100 \
        --thresholds 0.5,1.0,1.5 --shard $k/2 --json .cache/ead_s$k.json & done; wait
    python benchmarks/generation2.py ead --problems 100 --thresholds 0.5,1.0,1.5 \
        --merge .cache/ead_s0.json .cache/ead_s1.json --json bench_results/generation2_ead.json
    # worked solutions on seed 1000 (held out: thresholds 0.3 / 0.6 were picked on seed 0's problems)
    STEPS="--problems 100 --seed 1000 --prompt steps --max-new-tokens 128 --thresholds 0.3,0.6 --assistant-tokens 5"
    for k in 0 1; do OMP_NUM_THREADS=1 python benchmarks/generation2.py ead $STEPS --shard $k/2 \
        --json .cache/ead_steps_s$k.json & done; wait
    python benchmarks/generation2.py ead $STEPS --merge .cache/ead_steps_s0.json .cache/ead_steps_s1.json \
        --json bench_results/generation2_ead_steps.json
    # threshold 0.4 (picked on seed 1000's results) on fresh problems: the same with HELD in place of STEPS
    HELD="--problems 100 --seed 3000 --prompt steps --max-new-tokens 128 --thresholds 0.4 --assistant-tokens 5"
    # shards .cache/ead_held_s$k.json, merged into bench_results/generation2_ead_steps_heldout.json
    # window 1, threshold 0.8 (picked on a 24-problem pilot of seed 1000: --problems 24 --thresholds 0.6,0.8,1.0
    # --window 1 into bench_results/generation2_ead_window1_pilot.json) on fresh problems: the same with W1 in place
    # of STEPS, W1="--problems 100 --seed 4000 --prompt steps --max-new-tokens 128 --thresholds 0.8 --window 1
    # --assistant-tokens 5",
    # shards .cache/ead_w1_s$k.json, merged into bench_results/generation2_ead_window1_heldout.json
    # content trigger pilot (--large-after adds "ead t=0.8 +trigger" arms): W1 with --problems 40 --seed 7000
    # --large-after '=\\s*-?\\d*$' into .cache/ead_trig_s$k.json, merged into
    # bench_results/generation2_ead_trigger_pilot.json; confirmed with --problems 100 --seed 8000 into
    # .cache/ead_trig8k_s$k.json, merged into bench_results/generation2_ead_trigger_100.json
    python benchmarks/generation2.py ead --quick          # 4 problems, 8 tokens
    OMP_NUM_THREADS=1 python benchmarks/generation2.py skipdecode --train-steps 40 \
        --json bench_results/generation2_skipdecode.json
    python benchmarks/generation2.py skipdecode --quick   # 3 steps per schedule
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_tokens.benchmarking import (
    Benchmark,
    PartialRun,
    add_common_args,
    paired_bootstrap,
    paired_log_ratio,
    setup_torch,
    write_json_atomic,
)

TRIGGER_SUFFIX = " +trigger"  # arm name of an EAD threshold run with --large-after's content trigger
INSTRUCTIONS = {  # --prompt: the short answer-only format, or a worked solution ending in an "Answer:" line
    "answer": "Reply with the final number only.",
    "steps": "Work it out step by step, briefly, then give the result on a last line of the form 'Answer: <number>'.",
}


def arithmetic_problems(n: int, seed: int) -> list[tuple[str, dict, Any]]:
    """``n`` seeded problems, alternating chain_sum and basic_arithmetic: (question, entry, dataset). reasoning-gym's
    item i of seed s + 1 is item i + 1 of seed s, so a pilot (e.g. to pick thresholds) needs a distant seed."""
    import reasoning_gym as rg

    half = (n + 1) // 2
    sets = [
        rg.create_dataset("chain_sum", size=half, seed=seed, min_terms=2, max_terms=4, min_digits=1, max_digits=3),
        rg.create_dataset(
            "basic_arithmetic", size=half, seed=seed, min_terms=2, max_terms=3, min_digits=1, max_digits=2
        ),
    ]
    out = []
    for i in range(half):
        for ds in sets:
            if len(out) < n:
                entry = ds[i]
                out.append((entry["question"], entry, ds))
    return out


def score(text: str, entry: dict, dataset: Any) -> float:
    """reasoning-gym's score of the number after the last "Answer:" in ``text``, else of its last number (0 when
    there is none)."""
    text = text.replace(",", "")
    number = r"-?\d+(?:\.\d+)?"
    numbers = re.findall(rf"Answer:\s*\**\s*({number})", text) or re.findall(number, text)
    return float(dataset.score_answer(numbers[-1], entry)) if numbers else 0.0


def compute_params(model: Any) -> int:
    """Parameters a token's forward multiplies by: all but the input embedding table (a lookup)."""
    embed = model.get_input_embeddings().weight
    return sum(p.numel() for p in model.parameters() if p is not embed)


def run_ead(args: argparse.Namespace) -> None:
    """Run this shard's problems (or merge shard files with ``--merge``) and write the rows."""
    thresholds = [float(t) for t in args.thresholds.split(",")]
    assisted = (
        "assisted (0.5B draft)" if args.assistant_tokens is None else f"assisted (0.5B draft, {args.assistant_tokens})"
    )
    eads = [f"ead t={t:g}" for t in thresholds]
    if args.large_after:  # each threshold also with the content trigger (an extension outside the paper)
        eads += [f"{arm}{TRIGGER_SUFFIX}" for arm in eads]
    arms = ["large only", "small only", *eads, assisted]
    settings = {  # what every record of a merged set must share (a problem is its index in the seeded list)
        "seed": args.seed,
        "max_new_tokens": args.max_new_tokens,
        "window": args.window,
        "prompt": args.prompt,
        "arms": arms,
        **({"large_after": args.large_after} if args.large_after else {}),
    }
    bench = Benchmark("generation2-ead", "Qwen2.5-Coder-1.5B-Instruct + 0.5B (fp32)", args.device, args.quick)
    if args.merge:
        records, seconds = merge_shards(args.merge, settings, args.problems)
        bench.note(
            f"merged from {len(args.merge)} shard files run in parallel processes, one thread each; their measured "
            "seconds (all arms, all problems): " + ", ".join(f"{s:.0f} s" for s in seconds)
        )
    else:
        records = _solve_ead(args, arms, settings)
    ead_rows(bench, records, arms)
    bench.note(
        f"{len(records)} problems (reasoning-gym chain_sum + basic_arithmetic, seed {args.seed}), greedy, "
        f"max_new_tokens={args.max_new_tokens}, EAD window={args.window}; one run per problem"
    )
    bench.note(
        "compute: parameters x tokens forwarded (prompt and catch-up included) / large-only's; assisted "
        "decoding's compute counts target tokens only; accuracy rows' diff_ci_low/high: 95% paired-bootstrap "
        "interval of the accuracy minus large-only's over problems; per_problem_time_vs_assisted: geometric mean "
        "over problems of the arm's seconds over assisted decoding's, with its 95% paired-bootstrap interval "
        "(ci_low/high)"
    )
    data = bench.finish()
    if args.json is not None:
        write_json_atomic(Path(args.json), {**data, "settings": settings, "records": records}, indent=1)
        print(f"wrote {args.json}")


@contextlib.contextmanager
def assistant_settings(small: Any, tokens: int | None) -> Iterator[None]:
    """With ``tokens``: the assistant drafts exactly ``tokens`` tokens per step (constant schedule, no confidence
    stop) instead of transformers' defaults (20, heuristic schedule, confidence threshold 0.4); restored after."""
    if tokens is None:
        yield
        return
    config = small.generation_config
    wanted = {
        "num_assistant_tokens": tokens,
        "num_assistant_tokens_schedule": "constant",
        "assistant_confidence_threshold": 0.0,
    }
    saved = {k: getattr(config, k, None) for k in wanted}
    for k, v in wanted.items():
        setattr(config, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(config, k, v)


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 0 <= K < N: this process runs problems K, K+N, K+2N, ..."""
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if match is None or not 0 <= int(match[1]) < int(match[2]):
        raise argparse.ArgumentTypeError(f"--shard must be K/N with 0 <= K < N, got {text!r}")
    return int(match[1]), int(match[2])


def merge_shards(paths: list[Path], settings: dict, problems: int) -> tuple[list[dict], list[float]]:
    """Problems 0 .. ``problems - 1`` from shard files written with the same settings (each exactly once, in order;
    later problems in the files are left out, so shards of a longer run cut short merge into its first problems),
    and each file's measured seconds: the sum of its problems' arm seconds, which counts a resumed shard's earlier
    problems too (a process's wall-clock would not) and reads the same from a ``.partial`` file."""
    records: list[dict] = []
    seconds: list[float] = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        if (saved := PartialRun.unpack(data)) is not None:  # a shard still running or cut short: its finished ones
            key, units = saved
            data = {"settings": key, "records": list(units.values())}
        if data.get("settings") != settings:
            raise ValueError(f"{path} was run with other settings ({data.get('settings')} != {settings})")
        records += data["records"]
        seconds.append(sum(arm["seconds"] for r in data["records"] for arm in r["arms"].values()))
    records.sort(key=lambda r: r["index"])
    indices = [r["index"] for r in records]
    if len(set(indices)) != len(indices):
        raise ValueError(f"the shard files overlap: problem indices {indices}")
    records = [r for r in records if r["index"] < problems]
    missing = sorted(set(range(problems)) - {r["index"] for r in records})
    if missing:
        raise ValueError(f"the shard files lack problems {missing} of the first {problems} (--problems)")
    return records, seconds


def _solve_ead(args: argparse.Namespace, arms: list[str], settings: dict) -> list[dict]:
    import torch

    from hf_tokens.assets import load_model
    from hf_tokens.generation import onednn_linears
    from hf_tokens.generation.entropy_adaptive import generate as ead_generate
    from hf_tokens.generation.entropy_adaptive import regex_trigger

    large, tokenizer = load_model("qwen2.5-coder-1.5b")
    small, _ = load_model("qwen2.5-coder-0.5b")
    p_large, p_small = compute_params(large), compute_params(small)
    problems = arithmetic_problems(args.problems, args.seed)
    shard, shards = args.shard
    trigger = regex_trigger(tokenizer, args.large_after) if args.large_after else None

    def run(arm: str, ids: torch.Tensor) -> tuple[list[int], dict, float]:
        stats: dict = {}
        kwargs: dict[str, Any] = {"max_new_tokens": args.max_new_tokens, "do_sample": False}
        model = large
        if arm == "small only":
            model = small
        elif arm.startswith("ead"):
            t = float(arm.removesuffix(TRIGGER_SUFFIX).split("=")[1])
            kwargs.update(custom_generate=ead_generate, small_model=small, decoding_stats=stats)
            kwargs["entropy_adaptive_config"] = {"threshold": t, "window": args.window}
            if arm.endswith(TRIGGER_SUFFIX):
                kwargs["force_large"] = trigger
        elif arm.startswith("assisted"):
            kwargs["assistant_model"] = small
        start = time.perf_counter()
        with torch.no_grad(), onednn_linears(large, small), assistant_settings(small, args.assistant_tokens):
            out = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)  # oneDNN: multi-token forwards
        return out[0, ids.shape[1] :].tolist(), stats, time.perf_counter() - start

    records: list[dict] = []
    partial = PartialRun(args.json, settings)  # units: finished problems by index
    for i in range(args.start + shard, len(problems), shards):
        if (saved := partial.get(str(i))) is not None:
            print(f"[{i + 1}/{len(problems)}] resumed from {partial.path}")
            records.append(saved)
            continue
        question, entry, dataset = problems[i]
        messages = [{"role": "user", "content": f"{question}\n{INSTRUCTIONS[args.prompt]}"}]
        chat = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        ids = chat["input_ids"].to(args.device)
        prompt = ids.shape[1]
        record: dict[str, Any] = {"index": i, "question": question, "answer": str(entry["answer"]), "arms": {}}
        reference: list[int] = []
        for arm in arms:
            new, stats, seconds = run(arm, ids)
            if arm == "large only":
                reference = new
            text = tokenizer.decode(new, skip_special_tokens=True)
            if arm.startswith("ead"):
                large_tokens = stats["large_tokens"]
                compute = p_small * stats["small_forwarded_tokens"] + p_large * stats["large_forwarded_tokens"]
            elif arm == "small only":
                large_tokens, compute = 0, p_small * (prompt + len(new) - 1)
            else:  # assisted: target tokens only (draft not counted)
                large_tokens, compute = len(new), p_large * (prompt + len(new) - 1)
            record["arms"][arm] = {
                "score": score(text, entry, dataset),
                "agree": float(new == reference),
                "seconds": seconds,
                "new": len(new),
                "large_tokens": large_tokens,
                "compute": compute,
                "text": text,
            }
            keys = ("large_tokens", "switches", "forced_large", "large_forwarded_tokens")
            shown = {k: stats[k] for k in keys if k in stats}
            right = record["arms"][arm]["score"]
            print(f"[{i + 1}/{len(problems)}] {arm}: {seconds:.1f}s {len(new)} tokens, score {right} {shown}")
            print(f"    {text!r} (answer {entry['answer']})")
        records.append(record)
        partial.put(str(i), record)
    return records


def ead_rows(bench: Benchmark, records: list[dict], arms: list[str]) -> None:
    """Rows per arm from the per-problem records: sums over problems, ratios to large only, paired intervals."""
    n = len(records)
    total = {arm: {k: sum(r["arms"][arm][k] for r in records) for k in _SUMMED} for arm in arms}
    base = total["large only"]
    per = {arm: {k: [r["arms"][arm][k] for r in records] for k in ("score", "seconds")} for arm in arms}
    assisted = next(a for a in arms if a.startswith("assisted"))
    for arm in arms:
        a, extra = total[arm], {"problems": n}
        low, high = paired_bootstrap(per[arm]["score"], per["large only"]["score"])
        bench.add(
            arm,
            "accuracy",
            a["score"] / n,
            baseline="large only",
            baseline_value=base["score"] / n,
            diff_ci_low=low,
            diff_ci_high=high,
            **extra,
        )
        bench.add(arm, "agreement with large only", a["agree"] / n, **extra)
        bench.add(arm, "large-model token share", a["large_tokens"] / max(a["new"], 1), **extra)
        bench.add(arm, "seconds", a["seconds"], baseline="large only", baseline_value=base["seconds"], **extra)
        bench.add(
            arm,
            "tokens/s",
            a["new"] / a["seconds"],
            baseline="large only",
            baseline_value=base["new"] / base["seconds"],
            **extra,
        )
        bench.add(arm, "estimated compute", a["compute"] / base["compute"], **extra)
        logs = [math.log(s) for s in per[arm]["seconds"]]
        ratio, low, high = paired_log_ratio(logs, [math.log(s) for s in per[assisted]["seconds"]])
        bench.add(arm, "per_problem_time_vs_assisted", ratio, ci_low=low, ci_high=high, **extra)


_SUMMED = ("score", "agree", "seconds", "new", "large_tokens", "compute")


SCHEDULES = {  # SmolLM2-135M has 30 layers
    "mild": {"max_layers": 30, "min_layers": 18, "decay_tokens": 64, "warmup_layers": 1},
    "aggressive": {"max_layers": 24, "min_layers": 12, "decay_tokens": 64, "warmup_layers": 1},
}


def run_skipdecode(args: argparse.Namespace) -> None:
    import statistics

    import torch
    from datasets import Dataset

    from hf_tokens._compat import no_checkpointing
    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.generation.skipdecode import SkipDecodeConfig
    from hf_tokens.generation.skipdecode import generate as skip_generate
    from hf_tokens.generation.skipdecode.train import SkipDecodeSFTConfig, SkipDecodeSFTTrainer, skip_lm_loss
    from hf_tokens.hub import save_for_hub

    base, tokenizer = load_model("smollm2-135m")
    texts = text_chunks(args.corpus, args.train_texts + args.eval_texts, chars=args.chars, seed=args.seed)
    train, held = texts[: args.train_texts], texts[args.train_texts :]
    enc = [tokenizer(t).input_ids[: args.seq_len] for t in held]
    held_ids = [ids for ids in enc if len(ids) == args.seq_len]
    full = SkipDecodeConfig(min_layers=30, warmup_layers=0)

    def ppl(model: Any, schedule: SkipDecodeConfig) -> float:
        ids = torch.tensor(held_ids)
        labels = ids.clone()
        labels[:, : args.prompt_tokens] = -100  # score only the positions decoded under the schedule
        with torch.no_grad():
            return float(
                torch.exp(skip_lm_loss(model, {"input_ids": ids, "labels": labels}, schedule, args.prompt_tokens))
            )

    bench = Benchmark("generation2-skipdecode", "SmolLM2-135M-Instruct (fp32)", args.device, args.quick)
    base_ppl = ppl(base, full)
    bench.add(
        "plain (30 layers)", "held-out perplexity", base_ppl, baseline="plain (30 layers)", baseline_value=base_ppl
    )
    models = {}
    for name, fields in SCHEDULES.items():
        schedule = SkipDecodeConfig(**fields)
        value = ppl(base, schedule)
        bench.add(
            f"skipdecode {name}, not fine-tuned",
            "held-out perplexity",
            value,
            baseline="plain (30 layers)",
            baseline_value=base_ppl,
        )
        model, _ = load_model("smollm2-135m")
        rows = [tokenizer(t).input_ids[: args.seq_len] for t in train]
        data = Dataset.from_dict({"input_ids": [r for r in rows if len(r) >= args.seq_len // 2]})
        cfg = SkipDecodeSFTConfig(
            output_dir=str(args.out / f"trainer_{name}"), max_steps=args.train_steps, learning_rate=args.lr,
            per_device_train_batch_size=args.batch_size, lr_scheduler_type="constant_with_warmup", warmup_steps=5,
            bf16=False, use_cpu=True, report_to=[], save_strategy="no", logging_steps=10, seed=args.seed,
            skip_max_layers=fields["max_layers"], skip_min_layers=fields["min_layers"],
            skip_decay_tokens=fields["decay_tokens"], skip_warmup_layers=fields["warmup_layers"],
            skip_min_start=8, skip_max_start=args.seq_len // 2, max_length=args.seq_len, **no_checkpointing(),
        )  # fmt: skip
        started = time.perf_counter()
        SkipDecodeSFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tokenizer).train()
        minutes = (time.perf_counter() - started) / 60
        model.eval()
        tuned = ppl(model, schedule)
        bench.add(
            f"skipdecode {name}, fine-tuned",
            "held-out perplexity",
            tuned,
            baseline="plain (30 layers)",
            baseline_value=base_ppl,
            train_steps=args.train_steps,
            train_minutes=round(minutes, 1),
        )
        bench.add(
            f"fine-tuned for {name}, all 30 layers",
            "held-out perplexity",
            ppl(model, full),
            baseline="plain (30 layers)",
            baseline_value=base_ppl,
        )
        save_for_hub(
            model,
            args.out / f"smollm2-skipdecode-{name}",
            method_id="skipdecode",
            kind="model",
            tokenizer=tokenizer,
            config=schedule,
            overwrite=True,
        )
        models[name] = (model, schedule)
        print(bench.table())

    # speed and generation quality: greedy continuations of held-out prompts
    prompts = [torch.tensor([ids[: args.prompt_tokens]]) for ids in held_ids[: args.gen_prompts]]
    repeats = args.repeats or 3

    def timed(model: Any, ids: torch.Tensor, **kwargs: Any) -> tuple[list[int], float]:
        times, out = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            with torch.no_grad():
                out = model.generate(
                    ids, max_new_tokens=args.new_tokens, do_sample=False, min_new_tokens=args.new_tokens, **kwargs
                )
            times.append(time.perf_counter() - start)
        assert out is not None
        return out[0, ids.shape[1] :].tolist(), statistics.median(times)

    def original_ppl(ids: torch.Tensor, new: list[int]) -> float:
        seq = torch.tensor([ids[0].tolist() + new])
        labels = seq.clone()
        labels[:, : ids.shape[1]] = -100
        with torch.no_grad():
            return float(torch.exp(base(seq, labels=labels).loss))

    arms: dict[str, tuple[Any, dict]] = {"plain greedy": (base, {})}
    for name, (model, schedule) in models.items():
        arms[f"skipdecode {name} (fine-tuned)"] = (
            model,
            {"custom_generate": skip_generate, "skipdecode_config": schedule},
        )
        arms[f"plain greedy, fine-tuned for {name}"] = (model, {})
    arms[f"assistant_early_exit={args.early_exit} (LayerSkip)"] = (base, {"assistant_early_exit": args.early_exit})
    totals = {a: {"seconds": 0.0, "ppl": [], "agree": 0.0} for a in arms}
    for ids in prompts:
        reference: list[int] = []
        for arm, (model, kwargs) in arms.items():
            new, seconds = timed(model, ids, **kwargs)
            reference = new if arm == "plain greedy" else reference
            t = totals[arm]
            t["seconds"] += seconds
            t["ppl"].append(original_ppl(ids, new))
            t["agree"] += sum(a == b for a, b in zip(new, reference)) / len(reference)
    n, base_s = len(prompts), totals["plain greedy"]["seconds"]
    for arm, t in totals.items():
        bench.add(arm, "speed-up vs plain greedy", base_s / t["seconds"], baseline="plain greedy", baseline_value=1.0)
        med = statistics.median(t["ppl"])
        bench.add(
            arm,
            "perplexity of the continuation under the original model",
            med,
            baseline="plain greedy",
            baseline_value=statistics.median(totals["plain greedy"]["ppl"]),
        )
        bench.add(arm, "token agreement with plain greedy", t["agree"] / n)
    for name, fields in SCHEDULES.items():
        cfg = SkipDecodeConfig(**fields)
        bench.add(
            f"skipdecode {name}",
            "mean active layers per new token",
            cfg.mean_budget(args.new_tokens, 30),
            baseline="plain (30 layers)",
            baseline_value=30,
        )
    bench.note(
        f"perplexity: {len(held_ids)} held-out {args.corpus} texts of {args.seq_len} tokens, the first "
        f"{args.prompt_tokens} at full depth, scored after them; fine-tuning: {args.train_steps} steps x "
        f"{args.batch_size} x {args.seq_len} tokens of {args.train_texts} other {args.corpus} texts, lr {args.lr}"
    )
    bench.note(
        f"speed: {n} prompts x {args.new_tokens} new tokens (min_new_tokens forces the length), median of "
        f"{repeats} runs each, summed over prompts; batch size 1"
    )
    bench.finish(args.json)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    ead = add_common_args(sub.add_parser("ead", help="Entropy Adaptive Decoding on the Qwen pair"))
    ead.add_argument(
        "--problems", type=int, default=20, help="problems in the seeded list (with --merge: the first N)"
    )
    ead.add_argument("--max-new-tokens", type=int, default=16)
    ead.add_argument("--thresholds", default="0.5,1.0", help="comma-separated EAD thresholds (nats)")
    ead.add_argument("--window", type=int, default=4)
    ead.add_argument(
        "--large-after",
        default=None,
        help="also run each threshold with a content trigger: the large model decodes every position where the "
        "recent text matches this regex (e.g. '=\\s*-?\\d*$': results after '='; an extension outside the paper)",
    )
    ead.add_argument("--seed", type=int, default=0)
    ead.add_argument("--prompt", choices=sorted(INSTRUCTIONS), default="answer", help="answer format asked for")
    ead.add_argument(
        "--assistant-tokens",
        type=int,
        help="assisted decoding drafts this many tokens per step (constant schedule); default: transformers' defaults",
    )
    ead.add_argument("--start", type=int, default=0, help="first problem index to run (extends an earlier run)")
    ead.add_argument("--shard", type=parse_shard, default=(0, 1), help="K/N: run problems K, K+N, ... (default 0/1)")
    ead.add_argument("--merge", type=Path, nargs="+", help="merge these shard JSON files instead of running")
    skip = add_common_args(sub.add_parser("skipdecode", help="SkipDecode schedules, fine-tuned SmolLM2"))
    skip.add_argument("--train-steps", type=int, default=40, help="fine-tuning steps per schedule (the CPU budget)")
    skip.add_argument("--batch-size", type=int, default=4)
    skip.add_argument("--lr", type=float, default=2e-4)
    skip.add_argument("--seq-len", type=int, default=128)
    skip.add_argument("--chars", type=int, default=800)
    skip.add_argument("--corpus", default="jargon")
    skip.add_argument("--train-texts", type=int, default=400)
    skip.add_argument("--eval-texts", type=int, default=24)
    skip.add_argument("--prompt-tokens", type=int, default=32)
    skip.add_argument("--gen-prompts", type=int, default=6)
    skip.add_argument("--new-tokens", type=int, default=64)
    skip.add_argument("--early-exit", type=int, default=8, help="assistant_early_exit layer of the LayerSkip arm")
    skip.add_argument("--seed", type=int, default=0)
    skip.add_argument("--out", type=Path, default=Path(".cache/skipdecode"), help="checkpoints (git-ignored)")
    args = parser.parse_args()
    setup_torch(args)
    if args.part == "ead":
        if args.quick:
            args.problems, args.max_new_tokens = 4, 8
        if not args.merge and not 0 <= args.start < args.problems:
            parser.error(f"--start must be in [0, --problems) = [0, {args.problems}), got {args.start}")
        run_ead(args)
    else:
        if args.quick:
            args.train_steps, args.eval_texts, args.gen_prompts, args.new_tokens, args.repeats = 3, 4, 2, 16, 1
        run_skipdecode(args)
    if args.json is not None:
        Path(str(args.json) + ".partial").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
