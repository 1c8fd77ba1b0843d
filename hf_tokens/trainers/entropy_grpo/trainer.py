"""``EntropyGRPOTrainer``: TRL's ``GRPOTrainer`` with the entropy token mask, Clip-Cov and KL-Cov.

TRL's ``_compute_loss`` is kept whole. The trainer hooks into it at three points:

* ``_get_per_token_logps_and_entropies`` records the per-token log-probs (with their graph) and entropies of the
  policy forward inside the loss (and can compute them with hf_tokens' linear ops, ``logprob_impl``);
* ``get_high_entropy_mask`` — TRL multiplies the per-token policy loss by it — returns the tokens that keep their
  policy gradient: the top-ρ (or bottom 1-ρ) entropy tokens, minus the Clip-Cov selection. TRL calls it only while
  ``self.top_entropy_quantile < 1``, so that attribute is held below 1 whenever a mask is needed (the threshold TRL
  passes is ignored: the mask is computed from the config);
* ``_compute_loss`` adds the KL-Cov term, normalised like TRL's policy loss, and logs the metrics.

If a TRL release stops calling the first two inside its loss, ``_compute_loss`` raises instead of silently training
TRL's plain GRPO loss.

Deviations from the papers' verl code: the policy term is TRL's (PPO-clipped for ``loss_type='grpo'`` etc.) on
every token, whereas the authors' KL-Cov uses the unclipped ``-A * ratio`` everywhere; the covariance, the
entropy quantile and the top-k/random picks are over the micro-batch of all processes (the authors: per GPU); TRL's
entropy bonus (``entropy_coef``), when enabled, skips the tokens the mask drops, Clip-Cov's included.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from trl import GRPOTrainer

from hf_tokens.trainers.entropy_grpo.config import CARD_FIELDS, EntropyGRPOConfig, card_training_text
from hf_tokens.trainers.entropy_grpo.loss import (
    LocalGroup,
    ProcessGroup,
    aggregate_token_loss,
    clip_cov_mask,
    entropy_quantile_mask,
    kl_cov_mask,
    kl_cov_penalty,
    ppo_clipped,
    token_covariance,
)

_PPO_CLIPPED_LOSSES = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo")


class AccelerateGroup:
    """:class:`~hf_tokens.trainers.entropy_grpo.loss.ProcessGroup` over an ``accelerate.Accelerator``."""

    def __init__(self, accelerator: Any) -> None:
        self.accelerator = accelerator
        self.rank = int(accelerator.process_index)

    def all_gather(self, tensor: Tensor) -> list[Tensor]:
        if self.accelerator.num_processes == 1:
            return [tensor]
        sizes = self.accelerator.gather(torch.tensor([tensor.numel()], device=tensor.device)).tolist()
        padded = self.accelerator.pad_across_processes(tensor, dim=0, pad_index=0)
        gathered = self.accelerator.gather(padded).view(len(sizes), -1)
        return [gathered[r, :n] for r, n in enumerate(sizes)]


def _linear_ops() -> tuple[Callable[..., Tensor], Callable[..., tuple[Tensor, Tensor]]] | None:
    """``(linear_log_probs, linear_log_probs_and_entropy)`` from hf_tokens.ops when that op exists, else ``None``."""
    try:
        module = importlib.import_module("hf_tokens.ops.linear_cross_entropy")
        return module.linear_log_probs, module.linear_log_probs_and_entropy
    except (ImportError, AttributeError):
        return None


class EntropyGRPOTrainer(GRPOTrainer):
    """GRPO restricted to high-entropy "forking" tokens (Wang et al. 2025) and/or with Clip-Cov / KL-Cov entropy
    control (Cui et al. 2025). Takes the same arguments as ``trl.GRPOTrainer``; ``args`` must be an
    :class:`EntropyGRPOConfig` (``None`` builds a default one).

    Logged metrics (TRL's ``entropy`` is the policy entropy): ``entropy_grpo/updated_frac`` (fraction of completion
    tokens the entropy mask and Clip-Cov let through to the policy gradient), ``entropy_grpo/entropy_kept`` /
    ``entropy_grpo/entropy_dropped`` (mean entropy of the tokens kept / dropped by the entropy mask), ``cov/mean``,
    ``cov/max``, ``cov/positive_frac`` (per-token covariance of log-prob and advantage), ``clip_cov/frac``,
    ``kl_cov/frac``, ``kl_cov/abs_kl``.
    """

    def __init__(self, model: Any, reward_funcs: Any = None, args: EntropyGRPOConfig | None = None, **kwargs: Any):
        if args is None:
            name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "") or "model"
            args = EntropyGRPOConfig(output_dir=f"{str(name).rstrip('/').split('/')[-1]}-EntropyGRPO")
        if not isinstance(args, EntropyGRPOConfig):
            raise TypeError(f"args must be an EntropyGRPOConfig, got {type(args).__name__}")
        ops = _linear_ops() if args.logprob_impl in ("auto", "hf_tokens") else None
        if args.logprob_impl == "hf_tokens" and ops is None:
            raise ImportError(
                "logprob_impl='hf_tokens' needs hf_tokens.ops.linear_cross_entropy (linear_log_probs, "
                "linear_log_probs_and_entropy), which is not importable; use logprob_impl='trl' or 'auto'"
            )
        super().__init__(model, reward_funcs, args=args, **kwargs)
        self.args: EntropyGRPOConfig
        self._linear_ops = ops if ops is not None and self._plain_linear_head() else None
        if args.logprob_impl == "hf_tokens" and self._linear_ops is None:
            raise ValueError(
                "logprob_impl='hf_tokens' needs a text model whose output head is a linear layer without logit "
                "scaling; use logprob_impl='trl'"
            )
        # TRL asks for the token mask only while top_entropy_quantile < 1 (see the module docstring); with Clip-Cov
        # alone any value below 1 does, since get_high_entropy_mask below ignores the threshold TRL derives from it
        if args.rho < 1.0:
            self.top_entropy_quantile = args.rho
        else:
            self.top_entropy_quantile = 0.5 if args.cov_penalty == "clip_cov" else 1.0
        self._capture: dict[str, Any] | None = None
        self._cov_draws = 0

    # ---- hooks into TRL's _compute_loss ------------------------------------------------------------------------
    @property
    def process_group(self) -> ProcessGroup:
        if self.accelerator.num_processes == 1:
            return LocalGroup()
        return AccelerateGroup(self.accelerator)

    def _get_per_token_logps_and_entropies(
        self, model: Any, input_ids: Tensor, attention_mask: Tensor, *args: Any, **kwargs: Any
    ) -> Any:
        if self._linear_ops is not None and self._is_text_only(kwargs):
            logps, entropies, aux = self._linear_logps_and_entropies(model, input_ids, attention_mask, *args, **kwargs)
        else:
            logps, entropies, aux = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, *args, **kwargs
            )
        if self._capture is not None and entropies is not None and "logps" not in self._capture:
            self._capture["logps"], self._capture["entropies"] = logps, entropies
        return logps, entropies, aux

    def get_high_entropy_mask(self, entropies: Tensor, mask: Tensor, threshold: float) -> Tensor:
        args, group = self.args, self.process_group
        mask = mask.bool()
        keep = mask
        if args.rho < 1.0:
            keep = entropy_quantile_mask(
                entropies, mask, args.rho, complement=args.entropy_mask_complement, group=group
            )
        capture = self._capture
        if capture is None or "logps" not in capture:  # outside _compute_loss: only the entropy mask is defined
            return keep
        self._fill_old_logps(capture)
        capture["entropy_mask"] = keep
        if args.cov_penalty == "clip_cov":
            logps, old, adv = capture["logps"], capture["old_logps"], capture["advantages"]
            exclude = None
            if self.loss_type in _PPO_CLIPPED_LOSSES:
                exclude = ppo_clipped(logps, old, adv, self.epsilon_low, self.epsilon_high)
            selected = clip_cov_mask(
                self._covariance(capture, mask),
                mask,
                ratio=args.clip_cov_ratio,
                low=args.clip_cov_low,
                high=args.clip_cov_high,
                generator=self._cov_generator(),
                exclude=exclude,
                group=group,
            )
            capture["clip_cov"] = selected
            keep = keep & ~selected
        capture["keep"] = keep
        return keep

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> Tensor:
        mask = inputs["completion_mask"]
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"]
        capture: dict[str, Any] = {
            "advantages": inputs["advantages"],
            "mask": mask.bool(),
            "old_logps_input": inputs.get("old_per_token_logps"),
        }
        self._capture = capture
        try:
            loss = super()._compute_loss(model, inputs)
        finally:
            self._capture = None
        self._check_hooks_ran(capture)
        self._fill_old_logps(capture)
        mode = "train" if model.training else "eval"
        if self.args.cov_penalty == "kl_cov":
            loss = loss + self._kl_cov_loss(capture, inputs, mode)
        self._log_entropy_metrics(capture, mode)
        return loss

    def _check_hooks_ran(self, capture: dict[str, Any]) -> None:
        """Refuse to go on when TRL's loss bypassed our hooks: its plain GRPO loss would be trained silently."""
        import trl

        missing = None
        if "logps" not in capture:
            missing = "_get_per_token_logps_and_entropies (with compute_entropy=True)"
        elif "keep" not in capture and (self.args.rho < 1.0 or self.args.cov_penalty == "clip_cov"):
            missing = "get_high_entropy_mask"
        if missing:
            raise RuntimeError(
                f"trl {trl.__version__}'s GRPOTrainer._compute_loss did not call {missing}, which "
                "EntropyGRPOTrainer overrides to apply the entropy mask / Clip-Cov / KL-Cov; training on would "
                "silently optimise TRL's plain GRPO loss. Install a TRL release this hf_tokens supports "
                "(see pyproject.toml) or report the change."
            )

    # ---- pieces -----------------------------------------------------------------------------------------------
    def _fill_old_logps(self, capture: dict[str, Any]) -> None:
        if "logps" in capture and "old_logps" not in capture:
            old = capture["old_logps_input"]
            capture["old_logps"] = capture["logps"].detach() if old is None else old

    def _covariance(self, capture: dict[str, Any], mask: Tensor) -> Tensor:
        if "cov" not in capture:
            capture["cov"] = token_covariance(capture["logps"], capture["advantages"], mask, group=self.process_group)
        return capture["cov"]

    def _cov_generator(self) -> torch.Generator:
        """A CPU generator seeded from ``args.seed`` and a call counter: the same draws on every rank."""
        self._cov_draws += 1
        return torch.Generator().manual_seed(int(self.args.seed) * 1_000_003 + self._cov_draws)

    def _kl_cov_loss(self, capture: dict[str, Any], inputs: dict[str, Any], mode: str) -> Tensor:
        args, mask = self.args, capture["mask"]
        logps = capture["logps"]
        selected = kl_cov_mask(
            self._covariance(capture, mask), mask, ratio=args.kl_cov_ratio, group=self.process_group
        )
        capture["kl_cov"] = selected
        penalty = kl_cov_penalty(logps, capture["old_logps"], selected, args.kl_cov_coef)
        capture["abs_kl"] = (logps - capture["old_logps"]).detach().abs()
        accumulation = self.current_gradient_accumulation_steps if mode == "train" else 1.0
        num_items = None
        if self.loss_type in ("dapo", "cispo", "vespo"):
            num_items = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
            if mode == "train":
                num_items = num_items * self.current_gradient_accumulation_steps / self.args.steps_per_generation
            accumulation = 1.0
        term = aggregate_token_loss(
            penalty, mask, self.loss_type, max_completion_length=self.max_completion_length, num_items=num_items
        )
        return term / accumulation

    def _global_mean(self, values: Tensor, mask: Tensor) -> float:
        local = torch.stack([(values.float() * mask).sum(), mask.float().sum()])
        totals = torch.stack(self.process_group.all_gather(local)).sum(0)
        return float(totals[0] / totals[1].clamp(min=1.0))

    def _log_entropy_metrics(self, capture: dict[str, Any], mode: str) -> None:
        if "logps" not in capture:
            return
        mask, metrics, group = capture["mask"], self._metrics[mode], self.process_group
        keep = capture.get("keep", mask)
        metrics["entropy_grpo/updated_frac"].append(self._global_mean(keep.float(), mask))
        entropies = capture["entropies"].detach()
        if "entropy_mask" in capture and self.args.rho < 1.0:
            kept = capture["entropy_mask"] & mask
            metrics["entropy_grpo/entropy_kept"].append(self._global_mean(entropies, kept))
            metrics["entropy_grpo/entropy_dropped"].append(self._global_mean(entropies, mask & ~kept))
        cov = self._covariance(capture, mask)
        values = torch.cat(group.all_gather(cov[mask].float()))
        if values.numel():
            metrics["cov/mean"].append(float(values.mean()))
            metrics["cov/max"].append(float(values.max()))
            metrics["cov/positive_frac"].append(float((values > 0).float().mean()))
        if "clip_cov" in capture:
            metrics["clip_cov/frac"].append(self._global_mean(capture["clip_cov"].float(), mask))
        if "kl_cov" in capture:
            metrics["kl_cov/frac"].append(self._global_mean(capture["kl_cov"].float(), mask))
            metrics["kl_cov/abs_kl"].append(self._global_mean(capture["abs_kl"], capture["kl_cov"]))

    # ---- hf_tokens linear ops path ----------------------------------------------------------------------------
    def _plain_linear_head(self) -> bool:
        """Whether the output head is ``hidden @ W.T (+ b)``, soft-capped at most (what the linear ops compute)."""
        model = self.accelerator.unwrap_model(self.model)
        head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        if head is None or getattr(head, "weight", None) is None:
            return False
        cfg = model.config.get_text_config()
        scales = ("logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")
        return all(getattr(cfg, name, None) in (None, 1.0) for name in scales)

    @staticmethod
    def _is_text_only(kwargs: dict[str, Any]) -> bool:
        flags = ("batch_size", "compute_entropy", "compute_aux_loss")
        return not kwargs.get("compute_aux_loss") and all(v is None for k, v in kwargs.items() if k not in flags)

    def _linear_logps_and_entropies(
        self,
        model: Any,
        input_ids: Tensor,
        attention_mask: Tensor,
        logits_to_keep: int,
        batch_size: int | None = None,
        compute_entropy: bool = False,
        **_: Any,
    ) -> tuple[Tensor, Tensor | None, None]:
        """Per-token log-probs/entropies of the completion with ``hf_tokens.ops.linear_cross_entropy``.

        The backbone runs through ``model`` (so DDP/FSDP wrappers see the forward) with ``logits_to_keep=1`` and
        the final hidden states; the op projects them onto the vocabulary in blocks (no ``[tokens x vocab]``
        logits), with TRL's temperature. Gradient filtering is off (``filter_eps=None``): exact gradients."""
        assert self._linear_ops is not None
        log_probs_fn, log_probs_and_entropy_fn = self._linear_ops
        unwrapped = self.accelerator.unwrap_model(model)  # the policy, or the reference model for ref logps
        head = unwrapped.get_output_embeddings()
        softcap = getattr(unwrapped.config.get_text_config(), "final_logit_softcapping", None)
        op_kwargs = {"bias": head.bias, "softcap": softcap, "temperature": self.temperature, "filter_eps": None}
        batch_size = batch_size or input_ids.size(0)
        all_logps, all_entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            ids, am = input_ids[start : start + batch_size], attention_mask[start : start + batch_size]
            with self.accelerator.autocast():
                out = model(
                    input_ids=ids, attention_mask=am, output_hidden_states=True, logits_to_keep=1, use_cache=False
                )
            hidden = out.hidden_states[-1][:, -logits_to_keep - 1 : -1].to(head.weight.dtype)
            targets = ids[:, -logits_to_keep:]
            if compute_entropy:
                logps, ent = log_probs_and_entropy_fn(hidden, head.weight, targets, **op_kwargs)
                all_entropies.append(ent)
            else:
                logps = log_probs_fn(hidden, head.weight, targets, **op_kwargs)
            all_logps.append(logps)
        entropies = torch.cat(all_entropies) if compute_entropy else None
        return torch.cat(all_logps), entropies, None

    # ---- publishing -------------------------------------------------------------------------------------------
    @property
    def method_id(self) -> str:
        """``entropy-mechanism`` when Clip-Cov/KL-Cov is on, else ``high-entropy-minority``."""
        return "entropy-mechanism" if self.args.cov_penalty != "none" else "high-entropy-minority"

    def method_config(self) -> dict[str, Any]:
        """The entropy fields of the config and the GRPO settings that matter to a reader of the model card."""
        return {name: getattr(self.args, name) for name in CARD_FIELDS}

    def save_for_hub(self, folder: str | os.PathLike[str], **card_context: Any) -> Path:
        """Save the trained model, its tokenizer and a model card naming the paper and the config used."""
        from hf_tokens.hub import save_for_hub

        card_context.setdefault("training", card_training_text(self.args, self.state.global_step))
        if self.args.rho < 1.0 and self.args.cov_penalty != "none":
            card_context.setdefault(
                "description",
                "Trained with both entropy-mechanism (Clip-Cov/KL-Cov, arXiv 2505.22617) and high-entropy-minority "
                "(the top-ρ entropy token mask, arXiv 2506.01939).",
            )
        return save_for_hub(
            self.accelerator.unwrap_model(self.model),
            folder,
            method_id=self.method_id,
            tokenizer=self.processing_class,
            config=self.method_config(),
            **card_context,
        )
