"""``RSQLinear``: a linear layer holding packed integer weights that it dequantizes on the fly.

Stored tensors (all ``nn.Parameter`` without gradients, so ``save_pretrained``/``from_pretrained`` move them as
they are): ``qweight`` int32 (packed codes), ``scales`` float, ``qzeros`` uint8, ``bias`` float (if any). The
forward runs :func:`dequant_linear` with ``impl="reference"`` (PyTorch: dequantize, then ``F.linear``) unless
``impl="triton"`` (the fused dequantize-matmul kernel of :mod:`.triton_kernel`) is set on the module; "auto"
takes Triton on CUDA tensors when triton imports, the reference otherwise. ``input_hadamard=True`` (``down_proj``
of a model rotated with the online Hadamard, see :mod:`.rotation`) transforms the input, ``x H``, first.

:func:`dequantized_weights` is for evaluating many batches: inside it every ``RSQLinear`` dequantizes its weight
once and reuses it (the tensor each call would compute, so outputs are identical), at the memory cost of a float
copy of the quantized weights while the block runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hf_tokens.quantization.rsq.gptq import QuantizedWeight
from hf_tokens.quantization.rsq.packing import dequantize_weight, num_groups, pack, packed_columns
from hf_tokens.quantization.rsq.rotation import linear_input

IMPLS = ("reference", "triton")


def dequant_linear(
    x: torch.Tensor,
    qweight: torch.Tensor,
    scales: torch.Tensor,
    qzeros: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    bits: int,
    group_size: int,
    in_features: int,
    impl: str = "reference",
) -> torch.Tensor:
    """``x @ dequantize(W).T + bias`` for packed ``W`` (see :mod:`.packing`); ``impl`` in ``("reference",
    "triton")``."""
    if impl == "reference":
        weight = dequantize_weight(qweight, scales, qzeros, bits, group_size, in_features).to(x.dtype)
        return F.linear(x, weight, None if bias is None else bias.to(x.dtype))
    if impl == "triton":
        from hf_tokens.quantization.rsq.triton_kernel import triton_dequant_linear

        return triton_dequant_linear(x, qweight, scales, qzeros, bias, bits=bits, group_size=group_size)
    raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


class RSQLinear(nn.Module):
    """A quantized ``nn.Linear`` (see the module docstring); build one with :meth:`from_quantized`."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool,
        *,
        bits: int,
        group_size: int,
        dtype: torch.dtype = torch.float32,
        impl: str = "auto",
        input_hadamard: bool = False,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.bits, self.group_size, self.impl = bits, group_size, impl
        self.input_hadamard = input_hadamard
        groups = num_groups(in_features, group_size)
        self.qweight = _frozen(torch.zeros(out_features, packed_columns(in_features, bits), dtype=torch.int32))
        self.scales = _frozen(torch.ones(out_features, groups, dtype=dtype))
        self.qzeros = _frozen(torch.zeros(out_features, groups, dtype=torch.uint8))
        self.bias = _frozen(torch.zeros(out_features, dtype=dtype)) if bias else None
        self.cached_weight: torch.Tensor | None = None  # set by dequantized_weights(); never saved

    @classmethod
    def from_quantized(cls, linear: nn.Linear, quantized: QuantizedWeight, *, bits: int, group_size: int) -> RSQLinear:
        dtype = linear.weight.dtype
        out = cls(
            linear.in_features,
            linear.out_features,
            linear.bias is not None,
            bits=bits,
            group_size=group_size,
            dtype=dtype,
            input_hadamard=getattr(linear, "input_hadamard", False),
        )
        device = linear.weight.device
        out.qweight.data = pack(quantized.codes.to(torch.int64), bits).to(device)
        out.scales.data = quantized.scales.to(device=device, dtype=dtype)
        out.qzeros.data = quantized.zeros.to(device=device, dtype=torch.uint8)
        if linear.bias is not None and out.bias is not None:
            out.bias.data = linear.bias.detach().clone()
        return out

    def dequantized_weight(self) -> torch.Tensor:
        return dequantize_weight(self.qweight, self.scales, self.qzeros, self.bits, self.group_size, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cached_weight is not None:
            bias = None if self.bias is None else self.bias.to(x.dtype)
            return F.linear(linear_input(self, x), self.cached_weight.to(x.dtype), bias)
        impl = self.impl
        if impl == "auto":
            impl = "triton" if x.is_cuda and _triton_ok() else "reference"
        return dequant_linear(
            linear_input(self, x),
            self.qweight,
            self.scales,
            self.qzeros,
            self.bias,
            bits=self.bits,
            group_size=self.group_size,
            in_features=self.in_features,
            impl=impl,
        )

    def extra_repr(self) -> str:
        group = "per-channel" if self.group_size == -1 else f"group_size={self.group_size}"
        online = ", input_hadamard=True" if self.input_hadamard else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, {group}{online}"


@contextmanager
def dequantized_weights(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block, each ``RSQLinear`` of ``model`` uses its weight dequantized once (see the module
    docstring); the float copies are dropped on exit, also after an error."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = [m for m in model.modules() if isinstance(m, RSQLinear)]
    try:
        with torch.no_grad():
            for m in layers:
                m.cached_weight = m.dequantized_weight()
        yield model
    finally:
        for m in layers:
            m.cached_weight = None


def _frozen(t: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(t, requires_grad=False)


def _triton_ok() -> bool:
    from hf_tokens.ops._triton_utils import triton_available

    return triton_available()


def packed_bytes(model: Any) -> int:
    """Bytes of every parameter and buffer of ``model`` (its in-memory size, integer codes packed)."""
    tensors = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())
