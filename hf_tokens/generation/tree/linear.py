"""``nn.Linear`` on oneDNN on CPU (float32), as a scoped switch: :func:`onednn_linears`.

Why: a forward over ``n`` tokens is a GEMM with ``n`` rows. For a handful of rows (a speculative verification of a
draft chain or tree) PyTorch's stock CPU kernel costs far more than the arithmetic suggests; oneDNN's matmul
(``torch.ops.mkldnn._linear_pointwise``, the kernel PyTorch's own Inductor uses for CPU linears) stays closer to
the bandwidth bound, so verifying 8-16 tokens costs much less than with the stock kernel. Measured cost curves
and end-to-end speed-ups with both kernels for every method (also transformers' prompt lookup, assisted decoding
and plain greedy): ``benchmarks/speculative.py`` (``--cost-curve`` and the default run).

The tree methods use it for their multi-token forwards by default (``onednn_linear=False`` opts out). For
transformers' own candidate decoding::

    from hf_tokens.generation import onednn_linears
    with onednn_linears(model):
        out = model.generate(**inputs, prompt_lookup_num_tokens=10, max_new_tokens=128)
    with onednn_linears(model, assistant):              # assisted decoding: patch the assistant too
        out = model.generate(**inputs, assistant_model=assistant, max_new_tokens=128)

How: inside the ``with`` block every plain ``nn.Linear`` of the given models (float32 weights on CPU, ``forward``
not already overridden on the instance, e.g. by accelerate hooks) gets an instance ``forward`` that runs calls with
at least ``min_rows`` rows, a float32 CPU input and no autograd on oneDNN, and every other call on ``F.linear`` as
before. Weights are used as they are (no copy). On exit, also after an error, the instance attributes are deleted
again, so the modules are exactly as before. A module patched by an enclosing ``onednn_linears`` is left to it.
Results differ from the stock kernel's only in float rounding, as any multi-token forward differs from one-token
steps; greedy equality is checked by the tests and asserted by the benchmark. The switch changes the model object,
so it applies to every thread that uses the model while the block runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def onednn_available() -> bool:
    """True when this PyTorch build has the oneDNN linear kernel."""
    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear`` on oneDNN (float32 CPU tensors)."""
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight, bias, "none", [], "")


class _OneDNNForward:
    """The instance ``forward`` of a patched ``nn.Linear`` (a class, so that a patched module is recognisable)."""

    def __init__(self, module: nn.Linear, min_rows: int) -> None:
        self.module = module
        self.min_rows = min_rows

    def __call__(self, input: torch.Tensor) -> torch.Tensor:  # the argument name of nn.Linear.forward
        m, x = self.module, input
        if (
            x.dtype == torch.float32
            and x.device.type == "cpu"
            and x.dim() >= 2
            and x.numel() >= self.min_rows * x.shape[-1]
            and not (torch.is_grad_enabled() and (x.requires_grad or m.weight.requires_grad))
        ):
            return onednn_linear(x, m.weight, m.bias)
        return F.linear(x, m.weight, m.bias)


def _patchable(module: nn.Module) -> bool:
    if not isinstance(module, nn.Linear) or type(module).forward is not nn.Linear.forward:
        return False
    if "forward" in module.__dict__:  # already overridden on the instance (accelerate hooks, an outer switch)
        return False
    weight, bias = module.weight, module.bias
    if weight.dtype != torch.float32 or weight.device.type != "cpu" or weight.dim() != 2:
        return False
    return bias is None or bias.dtype == torch.float32


@contextlib.contextmanager
def onednn_linears(*models: nn.Module, min_rows: int = 2) -> Iterator[int]:
    """Run the float32 CPU ``nn.Linear`` calls of ``models`` with at least ``min_rows`` rows on oneDNN inside the
    ``with`` block; restores every module exactly on exit (module docstring). Yields how many modules were patched.

    ``min_rows=2`` (default) leaves one-token decoding steps on the stock kernel, so a plain decoding step is
    exactly what ``generate`` computes without the switch; ``min_rows=1`` reroutes them too. Without a oneDNN build,
    or for models with no float32 CPU linears, nothing is patched.
    """
    if not isinstance(min_rows, int) or isinstance(min_rows, bool) or min_rows < 1:
        raise ValueError(f"min_rows must be an int >= 1, got {min_rows!r}")
    if not models:
        raise TypeError("onednn_linears needs at least one model (an nn.Module)")
    for model in models:
        if not isinstance(model, nn.Module):
            raise TypeError(f"onednn_linears takes nn.Module models, got {type(model).__name__}")
    patched: list[nn.Module] = []
    try:
        if onednn_available():
            for model in models:
                for module in model.modules():
                    if _patchable(module):
                        module.forward = _OneDNNForward(module, min_rows)  # type: ignore[assignment, arg-type]
                        patched.append(module)
        yield len(patched)
    finally:
        for module in patched:
            if isinstance(module.__dict__.get("forward"), _OneDNNForward):
                del module.__dict__["forward"]


def is_patched(module: nn.Module) -> bool:
    """True while ``module`` (an ``nn.Linear``) runs on oneDNN under :func:`onednn_linears`."""
    return isinstance(module.__dict__.get("forward"), _OneDNNForward)


def verification_linear(model: Any, enabled: bool = True) -> contextlib.AbstractContextManager:
    """The context the tree methods' multi-token forwards run in: :func:`onednn_linears` for a float32 model on
    CPU when ``enabled``, else a no-op."""
    dtype = getattr(model, "dtype", None)
    device = getattr(model, "device", None)
    on_cpu = device is not None and torch.device(device).type == "cpu"
    if enabled and on_cpu and dtype == torch.float32 and isinstance(model, nn.Module):
        return onednn_linears(model)
    return contextlib.nullcontext()
