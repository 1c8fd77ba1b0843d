"""``RSQHfQuantizer``: the transformers quantizer of ``quant_method="rsq"``, registered with ``RSQConfig``.

* ``from_pretrained(float_folder, quantization_config=RSQConfig(...))``: the float weights load as usual, then
  :func:`~.calibrate.quantize_model` rotates and quantizes the model layer by layer (calibration text from the
  config, tokenized with the folder's tokenizer unless ``RSQConfig(tokenizer=...)`` says otherwise).
* ``from_pretrained(quantized_folder)``: before loading, the decoder layers' linears become empty
  :class:`RSQLinear` modules (on the meta device), so the packed tensors load exactly as saved; the saved config
  already says the embeddings are untied and the norms carry no scale when the model was rotated. With the online
  Hadamard, ``down_proj`` layers get ``input_hadamard=True`` (or become ``HadamardLinear`` if kept in float).

Importing this module registers both classes (once).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.quantizers import HfQuantizer
from transformers.quantizers.auto import (
    AUTO_QUANTIZATION_CONFIG_MAPPING,
    AUTO_QUANTIZER_MAPPING,
    register_quantization_config,
    register_quantizer,
)

from hf_tokens.quantization.rsq.config import QUANT_METHOD, RSQConfig
from hf_tokens.quantization.rsq.modules import RSQLinear
from hf_tokens.quantization.rsq.rotation import HadamardLinear, online_targets


class RSQHfQuantizer(HfQuantizer):
    """Quantizes on load (calibration, :mod:`.calibrate`) or loads packed RSQ weights (see the module docstring)."""

    requires_calibration = False

    def __init__(self, quantization_config: RSQConfig, **kwargs: Any) -> None:
        if not isinstance(quantization_config, RSQConfig):
            raise TypeError(f"quantization_config must be an RSQConfig, got {type(quantization_config).__name__}")
        super().__init__(quantization_config, **kwargs)

    def validate_environment(self, *args: Any, **kwargs: Any) -> None:
        return None

    def _process_model_before_weight_loading(self, model: Any, **kwargs: Any) -> None:
        if not self.pre_quantized:
            return
        from hf_tokens.quantization.rsq.calibrate import quantizable_linears  # config -> quantizer -> calibrate cycle

        config: Any = self.quantization_config
        online = config.rotation is not None and config.online_hadamard
        downs = {id(t[2]): t for t in online_targets(model)} if online else {}
        with torch.device("meta"):
            lin: Any
            for parent, attr, lin in [t for ts in quantizable_linears(model, config) for t in ts]:
                empty = RSQLinear(
                    lin.in_features,
                    lin.out_features,
                    lin.bias is not None,
                    bits=config.bits,
                    group_size=config.group_size,
                    dtype=lin.weight.dtype,
                    input_hadamard=downs.pop(id(lin), None) is not None,
                )
                setattr(parent, attr, empty)
        for parent, attr, lin in downs.values():  # kept in full precision (modules_to_not_convert), still rotated
            setattr(parent, attr, HadamardLinear.from_linear(lin))

    def _process_model_after_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        if not self.pre_quantized:
            from hf_tokens.quantization.rsq.calibrate import quantize_model

            config: Any = self.quantization_config
            quantize_model(model, config)
        return model

    def is_serializable(self, *args: Any, **kwargs: Any) -> bool:
        return True

    @property
    def is_trainable(self) -> bool:
        return False


if AUTO_QUANTIZATION_CONFIG_MAPPING.get(QUANT_METHOD) is not RSQConfig:
    AUTO_QUANTIZATION_CONFIG_MAPPING.pop(QUANT_METHOD, None)  # a reloaded module re-registers its new classes
    register_quantization_config(QUANT_METHOD)(RSQConfig)
if AUTO_QUANTIZER_MAPPING.get(QUANT_METHOD) is not RSQHfQuantizer:
    AUTO_QUANTIZER_MAPPING.pop(QUANT_METHOD, None)
    register_quantizer(QUANT_METHOD)(RSQHfQuantizer)


def contract() -> dict[str, Any]:
    """The quantization suite's contract: a 4-bit, group-32 RSQ with a few random calibration sequences."""

    def make_config() -> RSQConfig:
        return RSQConfig(bits=4, group_size=32, calibration="random", num_samples=4, seq_len=32)

    return {"config_cls": RSQConfig, "quantizer_cls": RSQHfQuantizer, "make_config": make_config}
