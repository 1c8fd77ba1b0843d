"""Multi-token ``nn.Linear`` on CPU through oneDNN during a verification forward (float32 only).

Why: a tree forward over ``n`` tokens is a GEMM with ``n`` rows. For ``n = 1`` PyTorch's CPU path (MKL ``sgemv``)
streams the weights once and is bandwidth-bound; for a handful of rows MKL's ``sgemm`` costs far more than the
arithmetic suggests. oneDNN's matmul (``torch.ops.mkldnn._linear_pointwise``, the kernel PyTorch's own Inductor uses
for CPU linears) stays closer to the bandwidth bound. SmolLM2-135M fp32, 300 cached tokens, 1 thread, in one-token
forwards (``bench_results/speculative_cost.json``): 8 / 16 / 32 / 80 tree nodes cost 1.6 / 2.0 / 2.7 / 4.5 with
oneDNN against 1.9 / 2.5 / 3.7 / 7.3 with the stock kernel; one-row forwards are no faster on oneDNN at 1 thread
(0.96, within noise). At 2 threads (``speculative_cost_2threads.json``) oneDNN is also faster for one row (0.73),
a gain plain ``generate`` could have as well; that is why the rerouting is limited to multi-row calls and the
benchmark reports prompt lookup with the same kernel beside the tree methods.

How: :class:`OneDNNLinearMode` is a :class:`torch.overrides.TorchFunctionMode` (PyTorch's official interception
point, thread-local and active only inside its ``with`` block); it reroutes ``F.linear`` calls whose input has more
than one row, float32 CPU tensors and no autograd, and leaves every other call untouched. The weights are used as
they are (no copy, no change to the model). One-row calls keep the stock path, so a one-token forward is exactly
what plain ``generate`` computes. Results differ from MKL's only in float rounding, like any multi-token forward
differs from one-token steps; greedy equality is checked by the tests.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


def onednn_available() -> bool:
    """True when this PyTorch build has the oneDNN linear kernel."""
    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _reroutable(x: torch.Tensor, weight: Any, bias: Any, min_rows: int) -> bool:
    if not isinstance(weight, torch.Tensor) or x.dim() < 2:
        return False
    if x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32 or weight.dim() != 2:
        return False
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.dtype != torch.float32):
        return False
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return False
    return x.numel() >= min_rows * x.shape[-1]


def onednn_linear(x: torch.Tensor, weight: Any, bias: Any) -> torch.Tensor:
    """``F.linear`` on oneDNN (float32 CPU tensors)."""
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight, bias, "none", [], "")


class OneDNNLinearMode(TorchFunctionMode):
    """Inside ``with OneDNNLinearMode():``, float32 CPU ``F.linear`` calls with at least ``min_rows`` rows run on
    oneDNN (``min_rows=1`` reroutes one-token forwards too; the benchmark uses it to show that oneDNN does not
    speed up plain one-token decoding, so the gain is specific to multi-token verification)."""

    def __init__(self, min_rows: int = 2) -> None:
        super().__init__()
        if min_rows < 1:
            raise ValueError(f"min_rows must be >= 1, got {min_rows}")
        self.min_rows = min_rows

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.linear:
            x = args[0] if args else kwargs.get("input")
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if isinstance(x, torch.Tensor) and _reroutable(x, weight, bias, self.min_rows):
                return onednn_linear(x, weight, bias)
        return func(*args, **kwargs)


def verification_linear(model: Any, enabled: bool = True) -> contextlib.AbstractContextManager:
    """The context a verification forward runs in: :class:`OneDNNLinearMode` for a float32 model on CPU when
    ``enabled`` and available, else a no-op."""
    dtype = getattr(model, "dtype", None)
    device = getattr(model, "device", None)
    on_cpu = device is not None and torch.device(device).type == "cpu"
    if enabled and on_cpu and dtype == torch.float32 and onednn_available():
        return OneDNNLinearMode()
    return contextlib.nullcontext()
