"""Contract of every op: each implementation equals the materialised oracle in value and gradients."""

from __future__ import annotations

import os

import pytest
import torch

from tests.suites._common import contract_of, implemented

SPECS = implemented("ops")
DTYPES = (torch.float32, torch.bfloat16)


def _grads(out, inputs):
    tensors = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    if not tensors or not out.requires_grad:
        return []
    g = torch.autograd.grad(out.float().sum(), tensors, allow_unused=True)
    return [torch.zeros_like(t) if x is None else x for t, x in zip(tensors, g)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec", SPECS)
def test_every_impl_equals_naive(spec, dtype):
    contract = contract_of(spec, ("fn", "impls", "make_inputs", "naive", "tolerances"))
    if dtype not in contract["tolerances"]:
        pytest.skip(f"{spec.id} declares no tolerance for {dtype}")
    rtol, atol = contract["tolerances"][dtype]
    for impl in contract["impls"]:
        if impl == "triton" and os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
            pytest.skip("triton needs a GPU or TRITON_INTERPRET=1 (the ops tests set it)")
        args, kwargs = contract["make_inputs"](dtype, 0)
        ref_args, ref_kwargs = contract["make_inputs"](dtype, 0)
        got = contract["fn"](*args, impl=impl, **kwargs)
        want = contract["naive"](*ref_args, **ref_kwargs)
        torch.testing.assert_close(got.float(), want.float(), rtol=rtol, atol=atol)
        for g, w in zip(_grads(got, args), _grads(want, ref_args)):
            torch.testing.assert_close(g.float(), w.float(), rtol=rtol, atol=atol)
