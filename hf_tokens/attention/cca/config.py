"""Settings of Core Context Aware attention (Chen et al., arXiv 2412.12465), stored as ``cca_*`` config attributes.

The attention function reads them from ``module.config`` at every call, so they travel with ``save_pretrained``::

    CCAConfig(group_size=16, local_window=256).apply(model.config)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="hf_tokens_cca", cca_group_size=16)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from hf_tokens.attention.common import ModelConfigSettings

IMPLS = ("reference", "chunked", "triton")


@dataclass
class CCAConfig(ModelConfigSettings):
    """Core Context Aware attention (Chen et al., arXiv 2412.12465): the sequence is cut into groups of
    ``group_size`` tokens (counted over each row's real tokens), each complete group pooled into one core key/value
    by the attention its last token gives the group's tokens; a query attends in one softmax to the core tokens of
    the groups that end before its local window and to the ``local_window`` most recent tokens (itself included)."""

    PREFIX: ClassVar[str] = "cca_"

    group_size: int = field(default=16, metadata={"help": "tokens per group pooled into one core token (paper: 16)"})
    local_window: int = field(
        default=256, metadata={"help": "the s most recent tokens each query attends to directly (itself included)"}
    )
    impl: str = field(
        default="chunked",
        metadata={
            "help": f"kernel, one of {IMPLS}: chunked (sdpa over core + local keys per block of queries, "
            "O(L (L/g + s)), trains), reference (materialised oracle, O(L^2)), triton (forward only)"
        },
    )

    def __post_init__(self) -> None:
        for name in ("group_size", "local_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {self.impl!r}")
