"""Entropy-aware GRPO for TRL: the high-entropy "forking token" mask (high-entropy-minority) and Clip-Cov / KL-Cov
(entropy-mechanism). One trainer serves both papers; see ``trainer.py`` and ``loss.py``."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_USAGE_MASK = """from hf_tokens.trainers.entropy_grpo import EntropyGRPOConfig, EntropyGRPOTrainer

args = EntropyGRPOConfig(output_dir="out", top_entropy_ratio=0.2, bf16=False)  # gradient on top-20% entropy tokens
trainer = EntropyGRPOTrainer(model, reward_funcs=[reward_fn], args=args, train_dataset=dataset, processing_class=tok)
trainer.train()
trainer.save_for_hub("out/model")  # weights + tokenizer + model card with the paper and config"""

_USAGE_COV = """from hf_tokens.trainers.entropy_grpo import EntropyGRPOConfig, EntropyGRPOTrainer

args = EntropyGRPOConfig(output_dir="out", cov_penalty="kl_cov", num_iterations=2, bf16=False)  # or "clip_cov"
trainer = EntropyGRPOTrainer(model, reward_funcs=[reward_fn], args=args, train_dataset=dataset, processing_class=tok)
trainer.train()"""

_RESULTS = "bench_results/entropy_rl_full.json"
_BENCH = (
    f"python benchmarks/entropy_rl.py --jobs 2 --json {_RESULTS} --plot bench_results/entropy_rl.png"
    "  # --quick: 2 steps; --variants all: + bottom-80%, Clip-Cov, KL-Cov"
)

_LOSS_TIMING = "bench_results/entropy_rl_seed0.json"
_BENCH_COV = (
    f"python benchmarks/entropy_rl.py --seeds 0 --parts {_RESULTS}.parts --json {_LOSS_TIMING}"
    "  # loss timing (reuses seed 0 of the run above); --variants all: Clip-Cov / KL-Cov accuracy over seeds"
)

register(
    "high-entropy-minority",
    status="experimental",
    extension="trainers",
    entry="hf_tokens.trainers.entropy_grpo.trainer:EntropyGRPOTrainer",
    config="hf_tokens.trainers.entropy_grpo.config:EntropyGRPOConfig",
    contract="hf_tokens.trainers.entropy_grpo.contract:contract",
    package="hf_tokens.trainers.entropy_grpo",
    headline=Headline(
        "SmolLM2-135M, chain_sum, {t.steps} GRPO steps, {t.n_seeds} seeds x {t.problems} held-out problems: accuracy "
        "{t.baseline_value:.3f} -> {t.value:.3f} (top-20% entropy tokens) vs {g.value:.3f} (all tokens); top-20% "
        "minus all {d.value:+.3f} (95% CI over seeds {d.ci95_seeds[0]:+.3f} to {d.ci95_seeds[1]:+.3f})",
        file=_RESULTS,
        rows={
            "t": {"method": "top20", "metric": "held-out accuracy after"},
            "g": {"method": "grpo", "metric": "held-out accuracy after"},
            "d": {"method": "top20", "metric": "held-out accuracy minus grpo (paired by seed)"},
        },
    ),
    benchmark=_BENCH,
    usage=_USAGE_MASK,
    demo="hf_tokens.trainers.entropy_grpo.analysis:demo",
)
register(
    "entropy-mechanism",
    status="experimental",
    extension="trainers",
    entry="hf_tokens.trainers.entropy_grpo.trainer:EntropyGRPOTrainer",
    config="hf_tokens.trainers.entropy_grpo.config:EntropyGRPOConfig",
    contract="hf_tokens.trainers.entropy_grpo.contract:kl_cov_contract",
    package="hf_tokens.trainers.entropy_grpo",
    headline=Headline(
        "SmolLM2-135M, identical GRPO batch: loss forward+backward time x{cl.ratio:.2f} (Clip-Cov) / x{kl.ratio:.2f} "
        "(KL-Cov) of GRPO's, median of {cl.repeats} rotated repetitions on 2 shared cores (load ~15: noisy); "
        "accuracy over seeds: `--variants all`, not yet run",
        file=_LOSS_TIMING,
        rows={
            "cl": {"method": "clip_cov", "metric": "loss fwd+bwd time (s)"},
            "kl": {"method": "kl_cov", "metric": "loss fwd+bwd time (s)"},
        },
    ),
    benchmark=_BENCH_COV,
    usage=_USAGE_COV,
    # the policy-entropy statistics Clip-Cov and KL-Cov act on (no rewards, so no covariance, in a one-prompt run)
    demo="hf_tokens.trainers.entropy_grpo.analysis:demo",
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EntropyGRPOConfig": ".config",
        "EntropyGRPOTrainer": ".trainer",
        "entropy_quantile_mask": ".loss",
        "token_covariance": ".loss",
        "clip_cov_mask": ".loss",
        "kl_cov_mask": ".loss",
        "kl_cov_penalty": ".loss",
        "forking_token_report": ".analysis",
        "token_entropies": ".analysis",
    },
)
