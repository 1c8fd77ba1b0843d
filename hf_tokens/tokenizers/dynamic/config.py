"""Configuration of batch-level BPE (dynamic tokenization, arXiv:2411.18553)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DynamicTokenizationConfig:
    """Bounds of the batch-level BPE merges of Feher et al., "Retrofitting (Large) Language Models with Dynamic
    Tokenization" (arXiv:2411.18553)."""

    merges: int | None = field(default=None, metadata={"help": "merge budget per batch (None = no limit)"})
    target_reduction: float | None = field(
        default=None, metadata={"help": "stop once the batch is this fraction shorter, in (0, 1) (None = no target)"}
    )
    min_frequency: int = field(default=1, metadata={"help": "only merge pairs occurring at least this often"})

    def __post_init__(self) -> None:
        if self.merges is not None and (
            isinstance(self.merges, bool) or not isinstance(self.merges, int) or self.merges < 0
        ):
            raise ValueError(f"merges must be None or an integer >= 0, got {self.merges!r}")
        if self.target_reduction is not None and not (
            isinstance(self.target_reduction, int | float) and 0.0 < float(self.target_reduction) < 1.0
        ):
            raise ValueError(f"target_reduction must be None or in (0, 1), got {self.target_reduction!r}")
        if isinstance(self.min_frequency, bool) or not isinstance(self.min_frequency, int) or self.min_frequency < 1:
            raise ValueError(f"min_frequency must be an integer >= 1, got {self.min_frequency!r}")
