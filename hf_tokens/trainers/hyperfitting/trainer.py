"""``HyperfittingTrainer``: TRL's ``SFTTrainer`` plus :class:`HyperfittingCallback`, which stops training once the
training loss is near zero and records when that happened (the recipe of arXiv 2412.04318)."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback
from trl import SFTTrainer

from hf_tokens.trainers.hyperfitting.config import HyperfittingConfig


class HyperfittingCallback(TrainerCallback):
    """Stops training at the first logged loss ``<= target_loss`` and keeps the loss curve.

    ``losses`` holds ``(step, epoch, loss)`` of every logged training loss; ``reached_step`` the step at which the
    target was met (``None`` if it never was). ``target_loss=None`` only records."""

    def __init__(self, target_loss: float | None) -> None:
        self.target_loss = target_loss
        self.losses: list[tuple[int, float, float]] = []
        self.reached_step: int | None = None

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> Any:
        loss = (logs or {}).get("loss")
        if loss is None:
            return control
        self.losses.append((int(state.global_step), float(state.epoch or 0.0), float(loss)))
        if self.target_loss is not None and loss <= self.target_loss and self.reached_step is None:
            self.reached_step = int(state.global_step)
            control.should_training_stop = True
        return control


class HyperfittingTrainer(SFTTrainer):
    """TRL's ``SFTTrainer`` that hyperfits: ``args`` is a :class:`HyperfittingConfig`; :attr:`hyperfitting` is the
    callback with the loss curve and the step the near-zero target was reached."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, HyperfittingConfig):
            raise TypeError(f"args must be a HyperfittingConfig, got {type(self.args).__name__}")
        self.hyperfitting = HyperfittingCallback(self.args.target_loss)
        self.add_callback(self.hyperfitting)
