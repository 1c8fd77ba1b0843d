"""RSQ: Rotate, Scale, then Quantize (arXiv 2503.01820) as a transformers quantizer.

``AutoModelForCausalLM.from_pretrained(folder, quantization_config=RSQConfig(bits=4))`` rotates the model
(Hadamard rotations fused into the weights), weights each calibration token by its attention concentration, and
quantizes every decoder linear layer with GPTQ on the importance-weighted Hessian; the packed model saves and
reloads through ``save_pretrained``/``from_pretrained``. Modules: ``config`` (``RSQConfig``), ``rotation``,
``importance``, ``gptq``, ``packing``, ``modules`` (``RSQLinear``), ``triton_kernel``, ``calibrate``
(``quantize_model``), ``quantizer`` (``RSQHfQuantizer``, registered on import).
"""

from hf_tokens.registry import lazy_exports

# RSQConfig's module registers the config and RSQHfQuantizer with transformers when it is imported
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RSQConfig": ".config",
        "RSQHfQuantizer": ".quantizer",
        "RSQLinear": ".modules",
        "quantize_model": ".calibrate",
        "rotate_model": ".rotation",
    },
)
