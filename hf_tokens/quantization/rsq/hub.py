"""Publishing an RSQ-quantized model: ``save_for_hub`` with a card that states bits, group size and calibration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hf_tokens.quantization.rsq.config import RSQConfig


def quantization_description(config: RSQConfig) -> str:
    """The card's description of the quantization (bits, groups, rotation, importance, calibration data)."""
    group = "one scale per output channel" if config.group_size == -1 else f"groups of {config.group_size} inputs"
    grid = "symmetric" if config.sym else "asymmetric (integer zero points)"
    if config.algorithm == "rtn":
        how = "round-to-nearest (no calibration)"
        calibration = "none"
    else:
        how = (
            f"GPTQ (damping {config.damp}, blocks of {config.block_size}, act-order {config.act_order}) on "
            f"Hessians of {config.importance.replace('_', ' ')}-weighted tokens"
        )
        calibration = (
            f"{config.num_samples} sequences x {config.seq_len} tokens of `{config.calibration}` (seed {config.seed})"
        )
    rotation = f"{config.rotation} (fused into the weights)" if config.rotation else "none"
    if config.rotation and config.online_hadamard:
        rotation += "; down_proj reads its input through an exact Hadamard transform at run time (QuaRot's R4)"
    return (
        f"Weight-only {config.bits}-bit quantization ({grid}, {group}) of every linear layer in the decoder "
        f"layers; embeddings and LM head stay in full precision.\n\n"
        f"- rotation: {rotation}\n"
        f"- rounding: {how}\n"
        f"- calibration data: {calibration}\n"
        f"- storage: int32-packed {config.bits}-bit codes, per-group float scales and uint8 zero points "
        f"(safetensors); load with `import hf_tokens.quantization.rsq` then `from_pretrained(folder)`"
    )


def save_quantized(
    model: Any, folder: str | os.PathLike[str], *, tokenizer: Any = None, overwrite: bool = False, **card: Any
) -> Path:
    """Save a quantized model (``model.config.quantization_config`` an :class:`RSQConfig`) with its card."""
    from hf_tokens.hub import save_for_hub

    config = getattr(model.config, "quantization_config", None)
    if not isinstance(config, RSQConfig):
        raise ValueError(
            "model is not RSQ-quantized: load it with from_pretrained(..., quantization_config=RSQConfig())"
        )
    card.setdefault("description", quantization_description(config))
    return save_for_hub(
        model, folder, method_id="rsq", tokenizer=tokenizer, config=config, overwrite=overwrite, **card
    )
