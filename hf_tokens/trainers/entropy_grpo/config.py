"""``EntropyGRPOConfig``: TRL's ``GRPOConfig`` plus the entropy token mask (high-entropy-minority) and Clip-Cov /
KL-Cov (entropy-mechanism)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from trl import GRPOConfig

COV_PENALTIES = ("none", "clip_cov", "kl_cov")
LOGPROB_IMPLS = ("auto", "trl", "hf_tokens")


@dataclass
class EntropyGRPOConfig(GRPOConfig):
    """Configuration of :class:`~hf_tokens.trainers.entropy_grpo.EntropyGRPOTrainer`.

    Papers: "Beyond the 80/20 Rule: High-Entropy Minority Tokens Drive Effective RL for LLM Reasoning" (Wang et al.,
    arXiv 2506.01939) for ``top_entropy_ratio`` / ``entropy_mask_complement``; "The Entropy Mechanism of
    Reinforcement Learning for Reasoning Language Models" (Cui et al., arXiv 2505.22617) for ``cov_penalty``
    (``"clip_cov"`` or ``"kl_cov"``). Every other field is TRL's ``GRPOConfig``.

    ``top_entropy_ratio`` is TRL's ``top_entropy_quantile`` (ρ) under a clearer name; after validation both fields
    hold ρ. On CPU pass ``bf16=False`` (TRL's default is bf16).
    """

    top_entropy_ratio: float | None = field(
        default=None,
        metadata={
            "help": "ρ in (0, 1]: keep the policy gradient only on the top-ρ fraction of the batch's completion "
            "tokens by entropy (0.2 in the paper). None: take TRL's top_entropy_quantile (default 1.0, all tokens)."
        },
    )
    entropy_mask_complement: bool = field(
        default=False,
        metadata={
            "help": "Train on the complement instead: the bottom 1-ρ tokens by entropy (the paper's 'bottom 80%' "
            "ablation with top_entropy_ratio=0.2). Needs top_entropy_ratio < 1."
        },
    )
    cov_penalty: str = field(
        default="none",
        metadata={
            "help": "Entropy-mechanism control: 'none', 'clip_cov' (detach the gradient of a random fraction of "
            "tokens with covariance in (clip_cov_low, clip_cov_high)) or 'kl_cov' (|logp - old_logp| penalty on the "
            "top fraction of tokens by covariance; needs num_iterations > 1)."
        },
    )
    clip_cov_ratio: float = field(
        default=2e-4,
        metadata={"help": "Clip-Cov: fraction in (0, 1] of the batch's tokens whose gradient is detached."},
    )
    clip_cov_low: float = field(
        default=1.0, metadata={"help": "Clip-Cov: lower covariance bound (exclusive) of the candidate tokens."}
    )
    clip_cov_high: float = field(
        default=5.0, metadata={"help": "Clip-Cov: upper covariance bound (exclusive); must be > clip_cov_low."}
    )
    kl_cov_ratio: float = field(
        default=2e-4,
        metadata={"help": "KL-Cov: fraction in (0, 1] of the batch's tokens (largest covariance) penalised."},
    )
    kl_cov_coef: float = field(
        default=1.0, metadata={"help": "KL-Cov: coefficient (>= 0) of the |logp - old_logp| term."}
    )
    logprob_impl: str = field(
        default="auto",
        metadata={
            "help": "Per-token log-probs/entropies in the loss: 'trl' (TRL's chunked fused LM head), 'hf_tokens' "
            "(hf_tokens.ops.linear_cross_entropy's linear_log_probs_and_entropy, no [tokens x vocab] logits, exact "
            "gradients) or 'auto' (hf_tokens when that op is importable and the head has no logit scaling, else trl)."
        },
    )

    def __post_init__(self) -> None:
        self._validate_entropy_fields()
        # a config read back from to_dict() carries both; TRL refuses that even when they agree
        given_gbs = self.generation_batch_size if self.steps_per_generation is not None else None
        if given_gbs is not None:
            self.generation_batch_size = None
        super().__post_init__()
        if given_gbs is not None and given_gbs != self.generation_batch_size:
            raise ValueError(
                "'generation_batch_size' and 'steps_per_generation' can not be both configured at the same time "
                f"unless they agree (steps_per_generation={self.steps_per_generation} gives "
                f"generation_batch_size={self.generation_batch_size}, got {given_gbs})"
            )
        steps = self.steps_per_generation or self.gradient_accumulation_steps
        on_policy = self.num_iterations == 1 and steps <= self.gradient_accumulation_steps
        if self.cov_penalty == "kl_cov" and on_policy:
            warnings.warn(
                "cov_penalty='kl_cov' with num_iterations=1 trains on-policy: old_logps equal the current "
                "log-probs, so the |logp - old_logp| penalty and its gradient are zero (KL-Cov has no effect). "
                "Set num_iterations > 1 (the paper updates several times per batch).",
                UserWarning,
                stacklevel=3,
            )

    @property
    def rho(self) -> float:
        """ρ: the fraction of tokens (by entropy) that keep the policy gradient; 1.0 = all tokens."""
        return float(self.top_entropy_ratio if self.top_entropy_ratio is not None else self.top_entropy_quantile)

    def _validate_entropy_fields(self) -> None:
        ratio, quantile = self.top_entropy_ratio, self.top_entropy_quantile
        if ratio is None:
            ratio = quantile
        elif quantile != 1.0 and quantile != ratio:
            raise ValueError(
                f"top_entropy_ratio={ratio} and top_entropy_quantile={quantile} disagree; set only top_entropy_ratio"
            )
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) <= 1.0:
            raise ValueError(f"top_entropy_ratio (ρ) must be a number in (0, 1], got {ratio!r}")
        self.top_entropy_ratio = self.top_entropy_quantile = float(ratio)
        if self.entropy_mask_complement and self.top_entropy_ratio == 1.0:
            raise ValueError(
                "entropy_mask_complement=True needs top_entropy_ratio < 1 (the complement of all is empty)"
            )
        if self.cov_penalty not in COV_PENALTIES:
            raise ValueError(f"cov_penalty must be one of {COV_PENALTIES}, got {self.cov_penalty!r}")
        if self.logprob_impl not in LOGPROB_IMPLS:
            raise ValueError(f"logprob_impl must be one of {LOGPROB_IMPLS}, got {self.logprob_impl!r}")
        for name in ("clip_cov_ratio", "kl_cov_ratio"):
            value = getattr(self, name)
            if not 0.0 < float(value) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if not self.clip_cov_low < self.clip_cov_high:
            raise ValueError(
                f"clip_cov_low must be < clip_cov_high, got clip_cov_low={self.clip_cov_low}, "
                f"clip_cov_high={self.clip_cov_high}"
            )
        if self.kl_cov_coef < 0:
            raise ValueError(f"kl_cov_coef must be >= 0, got {self.kl_cov_coef}")


_TRL_FIELDS = (
    "learning_rate",
    "num_generations",
    "num_iterations",
    "loss_type",
    "beta",
    "epsilon",
    "epsilon_high",
    "max_completion_length",
    "temperature",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_steps",
    "seed",
)

_ENTROPY_FIELDS = (
    "top_entropy_ratio",
    "entropy_mask_complement",
    "cov_penalty",
    "clip_cov_ratio",
    "clip_cov_low",
    "clip_cov_high",
    "kl_cov_ratio",
    "kl_cov_coef",
    "logprob_impl",
)
# the fields a model card shows: the entropy settings and the GRPO settings that matter to a reader
CARD_FIELDS = (*_ENTROPY_FIELDS, *_TRL_FIELDS)


def card_training_text(args: EntropyGRPOConfig, steps: int) -> str:
    """The "Training" paragraph of a model card: what was trained, how many steps, which tokens got the gradient."""
    parts = [f"Trained with `hf_tokens.EntropyGRPOTrainer` (TRL GRPO, loss_type `{args.loss_type}`) for {steps} steps"]
    if args.rho < 1.0:
        side = "bottom" if args.entropy_mask_complement else "top"
        share = 1 - args.rho if args.entropy_mask_complement else args.rho
        parts.append(f"policy gradient on the {side} {share:.0%} of tokens by entropy")
    if args.cov_penalty == "clip_cov":
        parts.append(
            f"Clip-Cov detaching {args.clip_cov_ratio:g} of tokens with covariance in "
            f"({args.clip_cov_low:g}, {args.clip_cov_high:g})"
        )
    if args.cov_penalty == "kl_cov":
        parts.append(
            f"KL-Cov coefficient {args.kl_cov_coef:g} on the top {args.kl_cov_ratio:g} of tokens by covariance"
        )
    return "; ".join(parts) + "."
