"""Hyperfitting on SmolLM2-135M: fine-tune to near-zero loss on a small set of offline texts, then compare greedy
long-form generation of the hyperfitted model with the original model's greedy decoding and top-p sampling.

Design: ``--train-texts`` passages of ``--seq-len`` tokens (the Jargon File) are the small set; training runs
``HyperfittingTrainer`` (TRL ``SFTTrainer``) for at most ``--epochs`` epochs and stops at the first logged loss
``<= --target-loss``. Held out: ``--prompts`` other passages, whose first ``--prompt-tokens`` tokens are the
prompts of ``--new-tokens``-token continuations (``min_new_tokens`` forces the length), and ``--eval-texts`` passages
for perplexity. Per arm: mean type-token ratio, repeated 4-gram rate, self-BLEU across prompts (token ids), the
generating model's mean predictive entropy on its own continuation (``hf_tokens.analysis.token_stats``) and the share
of its ``--block-n``-grams copied from the small training set; perplexity on held-out text per model. The paper's
citation-blocker check is one more arm: the hyperfitted model's greedy decoding with
:class:`~hf_tokens.trainers.hyperfitting.citation.TrainingNgramBlocker` (no training ``--block-n``-gram completed).
Top-p sampling: p = ``--top-p``, temperature 1, seeded per prompt.

    OMP_NUM_THREADS=1 python benchmarks/hyperfitting.py --train-texts 64 --seq-len 128 --batch-size 8 --lr 1e-4 \
        --target-loss 0.1 --prompts 32 --eval-texts 16 --out .cache/hyperfitting64 \
        --json bench_results/hyperfitting_64.json          # the headline (+ --seed 1: hyperfitting_64_seed1.json)
    python benchmarks/hyperfitting.py --quick     # 2 epochs, 3 prompts x 64 tokens
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_tokens.benchmarking import Benchmark, add_common_args, paired_bootstrap, setup_torch


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--train-texts", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=20.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--target-loss", type=float, default=0.05)
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--eval-texts", type=int, default=16)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--corpus", default="jargon")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block-n", type=int, default=6, help="citation blocker / copy rate n-gram length")
    parser.add_argument("--out", type=Path, default=Path(".cache/hyperfitting"), help="checkpoint (git-ignored)")
    args = parser.parse_args()
    setup_torch(args)
    if args.quick:
        args.epochs, args.prompts, args.new_tokens, args.eval_texts = 2.0, 3, 64, 4

    import torch
    from datasets import Dataset
    from transformers import LogitsProcessorList

    from hf_tokens._compat import no_checkpointing
    from hf_tokens.analysis.token_stats import token_stats
    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.hub import save_for_hub
    from hf_tokens.trainers.hyperfitting import HyperfittingConfig, HyperfittingTrainer, long_form_report
    from hf_tokens.trainers.hyperfitting.citation import TrainingNgramBlocker
    from hf_tokens.trainers.hyperfitting.metrics import repeated_ngram_rate, type_token_ratio

    original, tokenizer = load_model("smollm2-135m")
    model, _ = load_model("smollm2-135m")
    n_all = args.train_texts + args.prompts + args.eval_texts
    texts = text_chunks(args.corpus, n_all * 2, chars=1200, seed=args.seed)
    rows = [ids for ids in (tokenizer(t).input_ids[: args.seq_len] for t in texts) if len(ids) == args.seq_len]
    if len(rows) < n_all:
        raise SystemExit(f"only {len(rows)} passages of {args.seq_len} tokens in {args.corpus}")
    train = rows[: args.train_texts]
    prompts = rows[args.train_texts : args.train_texts + args.prompts]
    held = rows[args.train_texts + args.prompts : n_all]

    config = HyperfittingConfig(
        output_dir=str(args.out / "trainer"),
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        per_device_train_batch_size=args.batch_size,
        target_loss=args.target_loss,
        logging_steps=1,
        lr_scheduler_type="constant",
        bf16=False,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        seed=args.seed,
        max_length=args.seq_len,
        **no_checkpointing(),
    )
    trainer = HyperfittingTrainer(
        model=model, args=config, train_dataset=Dataset.from_dict({"input_ids": train}), processing_class=tokenizer
    )
    started = time.perf_counter()
    trainer.train()
    minutes = (time.perf_counter() - started) / 60
    model.eval()
    curve = trainer.hyperfitting.losses
    save_for_hub(model, args.out / "smollm2-hyperfitted", method_id="hyperfitting", tokenizer=tokenizer,
                 config=config.to_dict(), overwrite=True)  # fmt: skip

    def perplexity(m: Any) -> float:
        stats = token_stats(m, input_ids=torch.tensor(held))
        return float(torch.exp(stats.nll().sum() / stats.num_scored.sum()))

    blocker = TrainingNgramBlocker(train, n=args.block_n)  # the blocked arm's processor; scores every arm's copying

    def continuations(m: Any, sample: bool, block: bool) -> tuple[list[list[int]], list[float]]:
        seqs, ents = [], []
        for i, ids in enumerate(prompts):
            prompt = torch.tensor([ids[: args.prompt_tokens]])
            kwargs: dict[str, Any] = {"do_sample": False}
            if block:
                kwargs["logits_processor"] = LogitsProcessorList([blocker])
            if sample:
                torch.manual_seed(args.seed + i)
                kwargs.update(do_sample=True, top_p=args.top_p, top_k=0, temperature=1.0)
            with torch.no_grad():
                out = m.generate(prompt, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, **kwargs)
            seqs.append(out[0, args.prompt_tokens :].tolist())
            stats = token_stats(m, input_ids=out, continuation_start=args.prompt_tokens)
            ents.append(float(stats.mean("entropy")[0]))
        return seqs, ents

    bench = Benchmark("hyperfitting", "SmolLM2-135M-Instruct (fp32)", args.device, args.quick)
    arms = {
        "original, greedy": (original, False, False),
        f"original, top-p {args.top_p}": (original, True, False),
        "hyperfitted, greedy": (model, False, False),
        "hyperfitted, greedy, citation blocker": (model, False, True),
    }
    reports, per_prompt = {}, {}
    copied = f"copied_{args.block_n}gram_rate"
    for arm, (m, sample, block) in arms.items():
        seqs, ents = continuations(m, sample, block)
        reports[arm] = long_form_report(seqs, ents)
        reports[arm][copied] = sum(blocker.copied_rate(s) for s in seqs) / len(seqs)
        per_prompt[arm] = {"repeated_4gram_rate": [repeated_ngram_rate(s, 4) for s in seqs],
                           "type_token_ratio": [type_token_ratio(s) for s in seqs]}  # fmt: skip
        print(arm, reports[arm])
    base = reports["original, greedy"]
    for arm, report in reports.items():
        for metric, value in report.items():
            bench.add(arm, metric, value, baseline="original, greedy", baseline_value=base[metric])
    sampled = f"original, top-p {args.top_p}"
    for arm in ("hyperfitted, greedy", "hyperfitted, greedy, citation blocker"):
        for metric, values in per_prompt[arm].items():  # the paper's claim: greedy hyperfitted vs top-p original
            other = per_prompt[sampled][metric]
            low, high = paired_bootstrap(values, other)
            diff = statistics.fmean(values) - statistics.fmean(other)
            bench.add(f"{arm} minus {sampled}", f"{metric} difference", diff,
                      ci95=[low, high], n=len(values), per_prompt=[round(v, 4) for v in values],
                      baseline_per_prompt=[round(v, 4) for v in other])  # fmt: skip
    ppl_orig = perplexity(original)
    bench.add("original", "held-out perplexity", ppl_orig, baseline="original", baseline_value=ppl_orig)
    bench.add("hyperfitted", "held-out perplexity", perplexity(model), baseline="original", baseline_value=ppl_orig)
    reached = trainer.hyperfitting.reached_step is not None
    last = curve[-1] if curve else (0, 0.0, float("nan"))
    bench.add("hyperfitted", "final training loss", last[2], epochs=last[1], steps=trainer.state.global_step,
              reached_target=reached, train_minutes=round(minutes, 1))  # fmt: skip
    bench.note(f"small set: {len(train)} {args.corpus} passages x {args.seq_len} tokens; lr {args.lr} (constant, "
               f"Adam), batch {args.batch_size}, <= {args.epochs:g} epochs, target {args.target_loss}")  # fmt: skip
    bench.note(f"generation: {len(prompts)} held-out prompts of {args.prompt_tokens} tokens, {args.new_tokens} "
               f"new tokens each; perplexity on {len(held)} held-out passages of {args.seq_len} tokens")  # fmt: skip
    bench.finish(args.json)


if __name__ == "__main__":
    main()
