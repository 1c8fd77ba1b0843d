"""SkipDecode's fine-tuning recipe: TRL's ``SFTTrainer`` whose forward follows the exit schedule.

The paper fine-tunes the model with the same skipping it will decode with, so the top layers learn to read hidden
states that come straight out of the warm-up layers. :class:`SkipDecodeSFTTrainer` replaces the loss forward with
:func:`~hf_tokens.generation.skipdecode.schedule.skip_forward`: in each batch the first ``start`` positions (the
"prompt") run every layer and position ``start + i`` runs the schedule's budget for index ``i`` — exactly the
computation of decoding with that prompt length — and the loss is the usual next-token cross-entropy over every
labelled position (prompt positions keep the full model's ability too).

Deviation from the paper, named: the paper fine-tunes on task data with real prompt/answer boundaries; on plain text
there are none, so ``start`` is drawn uniformly from ``[skip_min_start, skip_max_start]`` per batch (seeded by
``args.seed`` and the step), shared by the rows of the batch as decoding shares it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTConfig, SFTTrainer

from hf_tokens.generation.skipdecode.schedule import SkipDecodeConfig, decoder_parts, skip_forward


@dataclass
class SkipDecodeSFTConfig(SFTConfig):
    """TRL's ``SFTConfig`` plus the SkipDecode schedule (Del Corro et al., arXiv:2307.02628) trained with.

    The ``skip_*`` fields are :class:`~hf_tokens.generation.skipdecode.schedule.SkipDecodeConfig`'s; decode with the
    same values (:meth:`schedule`). On CPU pass ``bf16=False`` (TRL's default is bf16)."""

    skip_max_layers: int | None = field(default=None, metadata={"help": "SkipDecodeConfig.max_layers (None: all)"})
    skip_min_layers: int = field(default=8, metadata={"help": "SkipDecodeConfig.min_layers"})
    skip_decay_tokens: int = field(default=128, metadata={"help": "SkipDecodeConfig.decay_tokens"})
    skip_warmup_layers: int = field(default=1, metadata={"help": "SkipDecodeConfig.warmup_layers"})
    skip_min_start: int = field(default=8, metadata={"help": "fewest full-depth 'prompt' positions per batch"})
    skip_max_start: int = field(default=64, metadata={"help": "most full-depth 'prompt' positions per batch"})

    def __post_init__(self) -> None:
        self.schedule()  # validates the skip_* fields
        if not isinstance(self.skip_min_start, int) or self.skip_min_start < 1:
            raise ValueError(f"skip_min_start must be an int >= 1, got {self.skip_min_start!r}")
        if not isinstance(self.skip_max_start, int) or self.skip_max_start < self.skip_min_start:
            raise ValueError(f"skip_max_start must be an int >= skip_min_start, got {self.skip_max_start!r}")
        super().__post_init__()

    def schedule(self) -> SkipDecodeConfig:
        """The decoding schedule this config trains for."""
        return SkipDecodeConfig(
            max_layers=self.skip_max_layers,
            min_layers=self.skip_min_layers,
            decay_tokens=self.skip_decay_tokens,
            warmup_layers=self.skip_warmup_layers,
        )


def schedule_tops(schedule: SkipDecodeConfig, start: int, length: int, num_layers: int) -> list[int]:
    """First top layer of each of ``length`` positions when the first ``start`` are the prompt (full depth)."""
    return [schedule.first_top_layer(i - start, num_layers) for i in range(length)]


def skip_lm_loss(
    model: Any, inputs: dict[str, torch.Tensor], schedule: SkipDecodeConfig, start: int, num_items: Any = None
) -> torch.Tensor:
    """Next-token cross-entropy of ``inputs`` (``input_ids``, optional ``attention_mask``/``labels``) under the
    schedule with ``start`` full-depth positions."""
    ids = inputs["input_ids"]
    mask = inputs.get("attention_mask")
    labels = inputs.get("labels")
    labels = ids if labels is None else labels
    if mask is not None:
        labels = labels.masked_fill(mask == 0, -100)
    num_layers = len(decoder_parts(model)[2])
    schedule.check(num_layers)
    positions = None if mask is None else (mask.long().cumsum(-1) - 1).clamp(min=0)
    tops = schedule_tops(schedule, start, ids.shape[1], num_layers)
    logits = skip_forward(model, ids, tops, warmup_layers=schedule.warmup_layers, padding=mask, position_ids=positions)
    target = labels[:, 1:]
    loss = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="sum"
    )
    count = (target != -100).sum() if num_items is None else num_items
    return loss / torch.as_tensor(count, device=loss.device).clamp(min=1)


class SkipDecodeSFTTrainer(SFTTrainer):
    """TRL's ``SFTTrainer`` training a model for its SkipDecode schedule (module docstring); args is a
    :class:`SkipDecodeSFTConfig`. Llama-style models (``model.model.layers``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, SkipDecodeSFTConfig):
            raise TypeError(f"args must be a SkipDecodeSFTConfig, got {type(self.args).__name__}")
        decoder_parts(self.accelerator.unwrap_model(self.model))  # refuse a model without the layers early
        self._schedule = self.args.schedule()

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        args: SkipDecodeSFTConfig = self.args  # type: ignore[assignment]
        rng = random.Random(hash((int(args.seed), int(self.state.global_step))))
        start = rng.randint(args.skip_min_start, args.skip_max_start)
        loss = skip_lm_loss(self.accelerator.unwrap_model(model), inputs, self._schedule, start, num_items_in_batch)
        return (loss, {"loss": loss}) if return_outputs else loss
