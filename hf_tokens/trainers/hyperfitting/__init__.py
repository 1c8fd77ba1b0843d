"""Hyperfitting (arXiv 2412.04318): fine-tune to near-zero training loss on a small set; greedy long-form generation
gets sharper and less repetitive. TRL ``SFTTrainer``/``SFTConfig`` with the recipe's defaults, a stopping callback,
and the paper's long-form metrics."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_REP = "repeated_4gram_rate"
_FILE, _FILE8 = "bench_results/hyperfitting_64.json", "bench_results/hyperfitting.json"
_SEED1 = "bench_results/hyperfitting_64_seed1.json"

register(
    "hyperfitting",
    status="experimental",
    extension="trainers",
    entry="hf_tokens.trainers.hyperfitting.trainer:HyperfittingTrainer",
    config="hf_tokens.trainers.hyperfitting.config:HyperfittingConfig",
    contract="hf_tokens.trainers.hyperfitting.contract:contract",
    package="hf_tokens.trainers.hyperfitting",
    headline=Headline(
        "SmolLM2 hyperfitted on 64 passages x 128 tokens (lr 1e-4) to loss {l.value:.2f} in {l.epochs:.1f} epochs: "
        "greedy 256-token continuations of {d.n} held-out prompts repeat {h.pct.value:.0f}% of 4-grams vs "
        "{g.pct.value:.0f}% (original greedy) and {p.pct.value:.0f}% (original top-p 0.9; hyperfitted minus top-p "
        "{d.pct.value:+.1f} points, 95% CI {d.pct.ci95[0]:+.1f} to {d.pct.ci95[1]:+.1f}), type-token ratio "
        "{t.value:.2f} vs {tp.value:.2f} (top-p); {c.pct.value:.1f}% of its 6-grams copied from the training "
        "passages, 0% under the paper's citation blocker, which repeats {b.pct.value:.0f}% of 4-grams; held-out "
        "perplexity x{q.ratio:.2f}. Seed 1 (other passages and prompts): {h1.pct.value:.0f}% vs {g1.pct.value:.0f}% "
        "and {p1.pct.value:.0f}% ({d1.pct.value:+.1f} points, {d1.pct.ci95[0]:+.1f} to {d1.pct.ci95[1]:+.1f}): less "
        "repetitive than greedy, not than top-p (the paper's claim). 8 passages x 48 tokens (4 prompts): "
        "{h8.pct.value:.0f}% vs {p8.pct.value:.0f}% top-p",
        file=_FILE,
        rows={
            "l": {"method": "hyperfitted", "metric": "final training loss"},
            "h": {"method": "hyperfitted, greedy", "metric": _REP},
            "g": {"method": "original, greedy", "metric": _REP},
            "p": {"method": "original, top-p 0.9", "metric": _REP},
            "d": {"method": "hyperfitted, greedy minus original, top-p 0.9", "metric": f"{_REP} difference"},
            "t": {"method": "hyperfitted, greedy", "metric": "type_token_ratio"},
            "tp": {"method": "original, top-p 0.9", "metric": "type_token_ratio"},
            "c": {"method": "hyperfitted, greedy", "metric": "copied_6gram_rate"},
            "b": {"method": "hyperfitted, greedy, citation blocker", "metric": _REP},
            "q": {"method": "hyperfitted", "metric": "held-out perplexity"},
            "h1": {"file": _SEED1, "method": "hyperfitted, greedy", "metric": _REP},
            "g1": {"file": _SEED1, "method": "original, greedy", "metric": _REP},
            "p1": {"file": _SEED1, "method": "original, top-p 0.9", "metric": _REP},
            "d1": {
                "file": _SEED1,
                "method": "hyperfitted, greedy minus original, top-p 0.9",
                "metric": f"{_REP} difference",
            },
            "h8": {"file": _FILE8, "method": "hyperfitted, greedy", "metric": _REP},
            "p8": {"file": _FILE8, "method": "original, top-p 0.9", "metric": _REP},
        },
    ),
    benchmark="OMP_NUM_THREADS=1 python benchmarks/hyperfitting.py --train-texts 64 --seq-len 128 --batch-size 8 "
    "--epochs 20 --lr 1e-4 --target-loss 0.1 --prompts 32 --prompt-tokens 32 --new-tokens 256 --eval-texts 16 "
    "--out .cache/hyperfitting64 --json bench_results/hyperfitting_64.json  # seed 1: the same with --seed 1 --out "
    ".cache/hyperfitting64_s1 --json bench_results/hyperfitting_64_seed1.json; 8 passages: --train-texts 8 "
    "--seq-len 48 --batch-size 4 --epochs 10 --lr 5e-4 --prompts 4 --prompt-tokens 24 --eval-texts 8 "
    "--json bench_results/hyperfitting.json",
    usage=(
        "from hf_tokens.trainers.hyperfitting import HyperfittingConfig, HyperfittingTrainer, TrainingNgramBlocker\n"
        'args = HyperfittingConfig(output_dir="out", target_loss=0.05, bf16=False)  # 20 epochs, lr 1e-6 (paper)\n'
        "trainer = HyperfittingTrainer(model=model, args=args, train_dataset=small_set, processing_class=tokenizer)\n"
        "trainer.train()  # stops at the first logged loss <= 0.05\n"
        "from transformers import LogitsProcessorList\n"
        "blocker = TrainingNgramBlocker(small_set['input_ids'], n=6)  # the paper's citation blocker\n"
        "out = model.generate(**inputs, logits_processor=LogitsProcessorList([blocker]), max_new_tokens=256)"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "HyperfittingConfig": ".config",
        "HyperfittingTrainer": ".trainer",
        "HyperfittingCallback": ".trainer",
        "long_form_report": ".metrics",
        "self_bleu": ".metrics",
        "type_token_ratio": ".metrics",
        "repeated_ngram_rate": ".metrics",
        "TrainingNgramBlocker": ".citation",
        "copied_ngram_rate": ".citation",
    },
)
