"""``RSQConfig``: the transformers quantization config of RSQ (arXiv 2503.01820), registered as ``quant_method="rsq"``.

The same config describes the baselines RSQ is compared with, so one code path runs them all:

* ``algorithm="rtn"``: round-to-nearest, no calibration;
* ``algorithm="gptq", rotation=None, importance="uniform"``: plain GPTQ;
* ``algorithm="gptq", rotation="hadamard", importance="uniform"``: QuaRot-style rotation + GPTQ;
* ``algorithm="gptq", rotation="hadamard", importance="attention_concentration"``: RSQ (the default).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from transformers.utils.quantization_config import QuantizationConfigMixin

QUANT_METHOD = "rsq"
BITS = (2, 3, 4, 8)
ALGORITHMS = ("gptq", "rtn")
ROTATIONS = ("hadamard", "orthogonal")
IMPORTANCES = ("attention_concentration", "uniform", "activation_norm", "first_tokens")
CALIBRATION_SOURCES = ("fortunes", "jargon", "licenses", "python-stdlib", "dpkg-changelog", "random")


@dataclass
class RSQConfig(QuantizationConfigMixin):
    """RSQ: Rotate, Scale, then Quantize (Sung et al., "RSQ: Learning from Important Tokens Leads to Better
    Quantized LLMs", arXiv 2503.01820). Fields (all validated here, ``ValueError`` naming what to change):

    ``bits`` 2/3/4/8, ``group_size`` (>0 or -1 per channel), ``sym``, ``algorithm`` gptq/rtn, ``rotation``
    hadamard/orthogonal/None, ``online_hadamard`` (with a rotation: QuaRot's online Hadamard before
    ``down_proj``, as the official RSQ code does), ``importance`` (attention_concentration, the paper's choice;
    uniform; activation_norm, the token-feature norm; first_tokens, the paper's positional heuristic),
    ``importance_min``/``importance_max`` (the min-max range r_min..r_max of the scaled importance; 0.005 and 1 are
    the official run script's values, ``scripts/run_rsq.sh``; its YAML default 1..3 is overridden there),
    ``calibration`` (corpus), ``num_samples`` x ``seq_len`` tokens, ``seed``, ``tokenizer``, ``damp``,
    ``block_size``, ``clip_search`` (the official runs' ``--w_clip``), ``act_order``, ``modules_to_not_convert``.
    """

    quant_method: str = field(  # type: ignore[assignment]  # transformers' enum has no member for a plug-in
        default=QUANT_METHOD, metadata={"help": "always 'rsq' (transformers' registry key)"}
    )
    bits: int = field(default=4, metadata={"help": f"weight bits, one of {BITS}"})
    group_size: int = field(
        default=128, metadata={"help": "input columns sharing one scale/zero; -1 = one per output channel"}
    )
    sym: bool = field(default=False, metadata={"help": "symmetric grid (zero point fixed at the grid's middle)"})
    algorithm: str = field(default="gptq", metadata={"help": f"rounding algorithm, one of {ALGORITHMS}"})
    rotation: str | None = field(
        default="hadamard",
        metadata={"help": f"orthogonal rotation fused into the weights, one of {ROTATIONS} or None"},
    )
    online_hadamard: bool = field(
        default=True,
        metadata={
            "help": "with a rotation: down_proj reads x H (exact Hadamard at run time) and stores W H (QuaRot's R4)"
        },
    )
    importance: str = field(
        default="attention_concentration",
        metadata={"help": f"token importance that scales the GPTQ Hessian, one of {IMPORTANCES}"},
    )
    importance_min: float = field(
        default=0.005,
        metadata={"help": "importance of the least important token after min-max scaling (r_min; the ratio matters)"},
    )
    importance_max: float = field(
        default=1.0, metadata={"help": "importance of the most important token after min-max scaling (r_max)"}
    )
    first_tokens: float = field(
        default=0.5,
        metadata={"help": "importance='first_tokens': this leading fraction gets importance_max, the rest the min"},
    )
    calibration: str = field(
        default="fortunes",
        metadata={
            "help": f"calibration text: an offline corpus of hf_tokens.assets.text, or 'random' token ids; "
            f"one of {CALIBRATION_SOURCES}"
        },
    )
    num_samples: int = field(default=64, metadata={"help": "number of calibration sequences"})
    seq_len: int = field(default=512, metadata={"help": "tokens per calibration sequence"})
    seed: int = field(default=0, metadata={"help": "seed of the calibration slices, rotation signs and random ids"})
    tokenizer: str | None = field(
        default=None, metadata={"help": "tokenizer folder for the calibration text (default: the model's folder)"}
    )
    damp: float = field(default=0.01, metadata={"help": "GPTQ damping: fraction of the mean Hessian diagonal added"})
    block_size: int = field(default=128, metadata={"help": "GPTQ columns per lazy-update block"})
    clip_search: bool = field(
        default=True,
        metadata={"help": "search each row's (group's) grid shrink minimising |q(w) - w|^2.4 (GPTQ's mse / --w_clip)"},
    )
    act_order: bool = field(
        default=False, metadata={"help": "GPTQ columns in order of decreasing Hessian diagonal (static groups)"}
    )
    modules_to_not_convert: list[str] | None = field(
        default=None, metadata={"help": "names of linear layers kept in full precision (lm_head always is)"}
    )

    def __post_init__(self) -> None:
        if self.quant_method != QUANT_METHOD:
            raise ValueError(f"quant_method must be {QUANT_METHOD!r}, got {self.quant_method!r}")
        self.post_init()

    def post_init(self) -> None:
        if isinstance(self.bits, bool) or self.bits not in BITS:
            raise ValueError(f"bits must be one of {BITS}, got {self.bits!r}")
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, int):
            raise ValueError(f"group_size must be an int (> 0, or -1 for per-channel), got {self.group_size!r}")
        if self.group_size != -1 and self.group_size < 1:
            raise ValueError(f"group_size must be > 0 or -1 (per-channel), got {self.group_size}")
        _choice("algorithm", self.algorithm, ALGORITHMS)
        if self.rotation is not None:
            _choice("rotation", self.rotation, ROTATIONS)
        if not isinstance(self.online_hadamard, bool):
            raise ValueError(f"online_hadamard must be a bool, got {self.online_hadamard!r}")
        _choice("importance", self.importance, IMPORTANCES)
        _choice("calibration", self.calibration, CALIBRATION_SOURCES)
        if not 0 < self.importance_min <= self.importance_max:
            raise ValueError(
                f"importance_min and importance_max must satisfy 0 < min <= max, got "
                f"{self.importance_min} and {self.importance_max}"
            )
        if not 0 < self.first_tokens <= 1:
            raise ValueError(f"first_tokens must be in (0, 1], got {self.first_tokens}")
        for name in ("num_samples", "seq_len", "block_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.seq_len < 2:
            raise ValueError(f"seq_len must be >= 2 tokens, got {self.seq_len}")
        if not 0 <= self.damp < 1:
            raise ValueError(f"damp must be in [0, 1), got {self.damp}")

    @property
    def needs_calibration(self) -> bool:
        return self.algorithm == "gptq"

    def describe(self) -> str:
        group = "per-channel" if self.group_size == -1 else f"g{self.group_size}"
        rot = self.rotation or "no rotation"
        if self.rotation is not None and self.online_hadamard:
            rot += " + online down_proj Hadamard"
        if self.algorithm == "rtn":
            return f"RTN {self.bits}-bit {group}, {rot}"
        return f"GPTQ {self.bits}-bit {group}, {rot}, {self.importance} importance"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], return_unused_kwargs: bool = False, **kwargs: Any) -> Any:
        names = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in {**config_dict, **kwargs}.items() if k in names})
        if return_unused_kwargs:
            return config, {k: v for k, v in kwargs.items() if k not in names}
        return config


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


# registers RSQConfig and RSQHfQuantizer with transformers (the quantizer module imports this one: no cycle issue,
# RSQConfig is defined by now)
from hf_tokens.quantization.rsq import quantizer as _quantizer  # noqa: E402,F401
