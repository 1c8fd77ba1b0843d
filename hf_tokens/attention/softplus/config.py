"""Settings of softplus attention (LSSA / LSSAR, arXiv 2501.13428), stored as ``softplus_*`` model-config attributes.

The attention function reads its settings from the model config (``module.config``) at every call, so they travel
with ``save_pretrained`` / ``from_pretrained`` like any other config attribute, and one switch (e.g. turning the
re-weighting on for inference at a longer length) needs no reload::

    cfg = SoftplusAttentionConfig(reweight_power=15.0)
    cfg.apply(model.config)          # writes softplus_phi, softplus_qk_norm, ... onto the model config
    model.set_attn_implementation("hf_tokens_softplus")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hf_tokens.attention.common import ModelConfigSettings

PHIS = ("softplus", "exp")
IMPLS = ("reference", "triton")
PREFIX = "softplus_"


@dataclass
class SoftplusAttentionConfig(ModelConfigSettings):
    """Length Scaled Softplus Attention (LSSA) and its re-weighting (LSSAR), Gao et al., arXiv 2501.13428.

    Attention weights are ``A = l1norm(phi(s_i * q_i . k_j))`` over the keys row ``i`` may see, where the paper's
    LSSA uses ``phi = softplus``, L2-normalised queries and keys and ``s_i = log(d) * log(N_i)`` with ``N_i`` the
    number of keys row ``i`` attends to. Re-weighting (``reweight_power = p > 0``) then sharpens each row:
    ``A_i <- l1norm(ReLU(N_i * A_i - O_i) ** p)`` with ``O_i = 1`` (``0`` for the first ``offset_rows`` rows).
    ``phi="exp", qk_norm=False, length_scale=False`` is exactly softmax attention (the decomposition
    ``softmax = l1norm o exp`` the paper starts from).
    """

    PREFIX: ClassVar[str] = PREFIX

    phi: str = field(
        default="softplus", metadata={"help": f"the non-linearity before l1 normalisation, one of {PHIS}"}
    )
    qk_norm: bool = field(
        default=True, metadata={"help": "L2-normalise queries and keys per head, so q.k is a cosine in [-1, 1]"}
    )
    length_scale: bool = field(
        default=True,
        metadata={
            "help": "scale row i's logits by log(head_dim) * log(N_i) (invariance entropy); False: the model's "
            "own scaling (1/sqrt(head_dim))"
        },
    )
    reweight_power: float = field(
        default=0.0, metadata={"help": "the re-weighting power p (paper: 15); 0 turns re-weighting off"}
    )
    reweight_after: int = field(
        default=0,
        metadata={
            "help": "re-weight only rows that attend to more than this many keys (e.g. the training length, to "
            "switch re-weighting on only beyond it); 0: every row"
        },
    )
    offset_rows: int = field(
        default=3,
        metadata={"help": "rows attending to at most this many keys use the offset 0 instead of 1 (the paper: 3)"},
    )
    impl: str = field(default="reference", metadata={"help": f"kernel, one of {IMPLS} (triton: inference only)"})

    def __post_init__(self) -> None:
        if self.phi not in PHIS:
            raise ValueError(f"phi must be one of {PHIS}, got {self.phi!r}")
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {self.impl!r}")
        for name in ("qk_norm", "length_scale"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        power = self.reweight_power
        if isinstance(power, bool) or not isinstance(power, int | float) or not math.isfinite(power) or power < 0:
            raise ValueError(
                f"reweight_power must be a finite number >= 0 (0 = off; the paper uses 15), got {power!r}"
            )
        for name in ("reweight_after", "offset_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        self.reweight_power = float(power)


def exact_softmax_kwargs() -> dict[str, Any]:
    """Model-config settings under which softplus attention's decomposition is exactly softmax attention."""
    return SoftplusAttentionConfig(phi="exp", qk_norm=False, length_scale=False).to_model_kwargs()
