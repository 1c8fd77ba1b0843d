"""Methods at the `quantization` extension point (an ``HfQuantizer`` registered for its ``QuantizationConfig``);
each sub-package is one method and registers itself."""
