"""Hyperfitting (arXiv 2412.04318): fine-tune to near-zero training loss on a small set; greedy long-form generation
gets sharper and less repetitive. TRL ``SFTTrainer``/``SFTConfig`` with the recipe's defaults, a stopping callback,
and the paper's long-form metrics."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_REP = "repeated_4gram_rate"

register(
    "hyperfitting",
    status="experimental",
    extension="trainers",
    entry="hf_tokens.trainers.hyperfitting.trainer:HyperfittingTrainer",
    config="hf_tokens.trainers.hyperfitting.config:HyperfittingConfig",
    contract="hf_tokens.trainers.hyperfitting.contract:contract",
    package="hf_tokens.trainers.hyperfitting",
    headline=Headline(
        "SmolLM2 hyperfitted to loss {l.value:.2f} on 8 passages: greedy 256-token continuations repeat "
        "{h.pct.value:.0f}% of 4-grams vs {g.pct.value:.0f}% (original greedy) and {p.pct.value:.0f}% (original "
        "top-p 0.9); held-out perplexity x{q.ratio:.2f}",
        file="bench_results/hyperfitting.json",
        rows={
            "l": {"method": "hyperfitted", "metric": "final training loss"},
            "h": {"method": "hyperfitted, greedy", "metric": _REP},
            "g": {"method": "original, greedy", "metric": _REP},
            "p": {"method": "original, top-p 0.9", "metric": _REP},
            "q": {"method": "hyperfitted", "metric": "held-out perplexity"},
        },
    ),
    benchmark="OMP_NUM_THREADS=1 python benchmarks/hyperfitting.py --train-texts 8 --seq-len 48 --batch-size 4 "
    "--epochs 10 --lr 5e-4 --target-loss 0.1 --prompts 4 --prompt-tokens 24 --new-tokens 256 --eval-texts 8 "
    "--json bench_results/hyperfitting.json",
    usage=(
        "from hf_tokens.trainers.hyperfitting import HyperfittingConfig, HyperfittingTrainer\n"
        'args = HyperfittingConfig(output_dir="out", target_loss=0.05, bf16=False)  # 20 epochs, lr 1e-6 (paper)\n'
        "trainer = HyperfittingTrainer(model=model, args=args, train_dataset=small_set, processing_class=tokenizer)\n"
        "trainer.train()  # stops at the first logged loss <= 0.05"
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
