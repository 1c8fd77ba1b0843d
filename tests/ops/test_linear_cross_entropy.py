"""Cut Cross-Entropy ops: every impl equals the materialised ``F.cross_entropy(hidden @ W.T)`` in value and gradients.

The Triton kernel runs on CPU under ``TRITON_INTERPRET=1`` (set here, before the kernel module is imported), at
small shapes. The reference runs with tiny blocks (see the ``small_blocks`` fixture) so that every test crosses
several token and vocabulary blocks and exercises the online log-sum-exp.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from hf_tokens.ops.linear_cross_entropy import (
    fused_loss,
    linear_cross_entropy,
    linear_entropy,
    linear_log_probs,
    linear_log_probs_and_entropy,
    reference,
)
from hf_tokens.ops.linear_cross_entropy.contract import TOLERANCES, naive

IMPLS = ["reference", "triton"]
DTYPES = [torch.float32, torch.bfloat16]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Blocks of 5 tokens x 64 vocabulary entries (fused loss: 4 tokens x the vocabulary), so small inputs span many
    blocks."""
    monkeypatch.setattr(reference, "DEFAULT_CHUNK_VOCAB", 64)
    monkeypatch.setattr(reference, "DEFAULT_BLOCK_ELEMENTS", 64 * 5)
    monkeypatch.setattr(fused_loss, "FUSED_MIN_CHUNK_TOKENS", 4)
    monkeypatch.setattr(fused_loss, "FUSED_BLOCK_ELEMENTS", 0)


def _inputs(n_shape, hidden, vocab, dtype, seed=0, scale=1.0, bias=False):
    gen = torch.Generator().manual_seed(seed)
    h = (torch.randn(*n_shape, hidden, generator=gen) * scale).to(dtype).requires_grad_(True)
    w = (torch.randn(vocab, hidden, generator=gen) / hidden**0.5).to(dtype).requires_grad_(True)
    b = (torch.randn(vocab, generator=gen) * 0.5).to(dtype).requires_grad_(True) if bias else None
    y = torch.randint(0, vocab, n_shape, generator=gen)
    return h, w, b, y


def _grads(loss, tensors):
    tensors = [t for t in tensors if t is not None]
    return torch.autograd.grad(loss, tensors, retain_graph=True)


def _close(a, b, dtype, what):
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(a.float(), b.float(), rtol=rtol, atol=atol, msg=lambda m: f"{what}: {m}")


CASES = {
    "plain": dict(n_shape=(13,), hidden=32, vocab=200, kw={}),
    "vocab-odd": dict(n_shape=(7,), hidden=24, vocab=131, kw={}),
    "one-token": dict(n_shape=(1,), hidden=16, vocab=97, kw={}),
    "softcap": dict(n_shape=(11,), hidden=32, vocab=150, kw={"softcap": 2.5}),
    "bias": dict(n_shape=(9,), hidden=16, vocab=120, kw={}, bias=True),
    "shift-batch": dict(n_shape=(2, 6), hidden=16, vocab=77, kw={"shift": True}),
    "sum": dict(n_shape=(10,), hidden=16, vocab=90, kw={"reduction": "sum"}),
    "none-3d": dict(n_shape=(2, 5), hidden=16, vocab=90, kw={"reduction": "none"}),
    "many-tokens": dict(n_shape=(70,), hidden=40, vocab=300, kw={}),
    "big-logits": dict(n_shape=(6,), hidden=16, vocab=70, kw={}, scale=40.0),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", list(CASES))
def test_cross_entropy_matches_materialised(impl, dtype, case):
    c = CASES[case]
    h, w, b, y = _inputs(c["n_shape"], c["hidden"], c["vocab"], dtype, scale=c.get("scale", 1.0), bias=c.get("bias"))
    y.view(-1)[1::4] = -100  # some ignored labels (none when there is a single token)
    kw = dict(c["kw"], bias=b)
    ours = linear_cross_entropy(h, w, y, impl=impl, **kw)
    ref = naive(h, w, y, **kw)
    assert ours.shape == ref.shape and torch.isfinite(ours).all()
    _close(ours, ref, dtype, "loss")
    # a non-uniform upstream gradient catches per-token gradient mistakes
    up = torch.rand(ours.shape, generator=torch.Generator().manual_seed(1)) + 0.5
    for g_ours, g_ref, name in zip(_grads((ours * up).sum(), [h, w, b]), _grads((ref * up).sum(), [h, w, b]), "hwb"):
        _close(g_ours, g_ref, dtype, f"grad {name}")


@pytest.mark.parametrize("impl", IMPLS)
def test_per_token_weights_after_none(impl):
    h, w, _, y = _inputs((3, 7), 16, 101, torch.float32, seed=3)
    y[1, :3] = -100
    weights = torch.linspace(0.1, 2.0, 21).reshape(3, 7)
    ours = (linear_cross_entropy(h, w, y, reduction="none", impl=impl) * weights).sum() / weights.sum()
    ref = (naive(h, w, y, reduction="none") * weights).sum() / weights.sum()
    _close(ours, ref, torch.float32, "weighted loss")
    for a, b in zip(_grads(ours, [h, w]), _grads(ref, [h, w])):
        _close(a, b, torch.float32, "weighted grad")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_all_labels_ignored(impl, reduction):
    h, w, _, y = _inputs((2, 4), 16, 50, torch.float32)
    y.fill_(-100)
    loss = linear_cross_entropy(h, w, y, reduction=reduction, impl=impl)
    assert torch.all(loss == 0)
    gh, gw = _grads(loss.sum(), [h, w])
    assert torch.all(gh == 0) and torch.all(gw == 0)
    if reduction != "mean":  # torch's mean is NaN here; ours is documented as 0
        torch.testing.assert_close(loss, naive(h, w, y, reduction=reduction))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("opts", [{}, {"temperature": 0.7}, {"softcap": 3.0}, {"bias": True}], ids=str)
def test_log_probs_and_entropy_match_naive(impl, dtype, opts):
    opts = dict(opts)
    h, w, b, y = _inputs((3, 5), 24, 143, dtype, seed=7, bias=opts.pop("bias", False))
    temperature = opts.get("temperature", 1.0)
    softcap = opts.get("softcap")
    z = h.float() @ w.float().T + (0 if b is None else b.float())
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    logp_all = torch.log_softmax(z / temperature, -1)
    ref_lp = logp_all.gather(-1, y[..., None])[..., 0]
    ref_ent = -(logp_all.exp() * logp_all).sum(-1)
    lp, ent = linear_log_probs_and_entropy(h, w, y, bias=b, impl=impl, **opts)
    _close(lp, ref_lp, dtype, "log-probs")
    _close(ent, ref_ent, dtype, "entropy")
    _close(linear_log_probs(h, w, y, bias=b, impl=impl, **opts), ref_lp, dtype, "linear_log_probs")
    _close(linear_entropy(h, w, bias=b, impl=impl, **opts), ref_ent, dtype, "linear_entropy")
    # a mixed objective (as in entropy-regularised RL) checks both gradient paths at once
    a = torch.randn(lp.shape, generator=torch.Generator().manual_seed(2))
    ours = (a * lp).sum() - 0.3 * ent.sum()
    ref = (a * ref_lp).sum() - 0.3 * ref_ent.sum()
    for g_o, g_r in zip(_grads(ours, [h, w, b]), _grads(ref, [h, w, b])):
        _close(g_o, g_r, dtype, "mixed grad")
    for g_o, g_r in zip(
        _grads(linear_entropy(h, w, bias=b, impl=impl, **opts).sum(), [h, w, b]), _grads(ref_ent.sum(), [h, w, b])
    ):
        _close(g_o, g_r, dtype, "entropy grad")


def test_entropy_of_uniform_is_log_vocab():
    h = torch.zeros(4, 8)
    w = torch.randn(60, 8)
    torch.testing.assert_close(linear_entropy(h, w), torch.full((4,), float(torch.log(torch.tensor(60.0)))))


def test_gradient_filtering_skips_negligible_blocks_only():
    """Peaky softmax: blocks far from the target are skipped, and the gradient stays within bf16 precision."""
    torch.manual_seed(0)
    n, hdim, vocab = 12, 16, 256
    h = torch.randn(n, hdim)
    w = torch.randn(vocab, hdim) * 0.1
    y = torch.randint(0, 64, (n,))  # every target in the first vocabulary block
    w[y] += h * 3  # the target logit dominates: p(target) ~ 1
    lse, ent, _ = reference.forward_stats(h, w, None, y, None, 1.0, 4, 64)
    grad_lp = torch.full((n,), -1.0 / n)
    args = (h, w, None, y, lse, ent, grad_lp, None, None, 1.0)
    exact = reference.backward_grads(*args, None, 4, 64, (True, True, False))
    eps = reference.resolve_filter_eps("auto", torch.bfloat16)
    assert eps == 2**-12
    filtered = reference.backward_grads(*args, eps, 4, 64, (True, True, False))
    assert exact[3] == 0 and filtered[3] > 0, "filtering must skip some blocks on a peaky softmax"
    assert torch.equal(filtered[1][:64], exact[1][:64])  # target blocks are never skipped
    torch.testing.assert_close(filtered[0], exact[0], rtol=0, atol=eps)
    torch.testing.assert_close(filtered[1], exact[1], rtol=0, atol=eps)


def test_no_logit_matrix_is_allocated():
    """Peak memory of forward + backward stays far below one [N, V] float32 matrix (what torch materialises)."""
    from hf_tokens.benchmarking import peak_allocated_bytes

    n, hdim, vocab = 512, 32, 8192
    h, w, _, y = _inputs((n,), hdim, vocab, torch.float32)
    reference.DEFAULT_CHUNK_VOCAB, reference.DEFAULT_BLOCK_ELEMENTS = 512, 512 * 64
    fused_loss.FUSED_MIN_CHUNK_TOKENS = 32  # the fused loss's [32 x V] block is 1/16 of the logits

    def run():
        linear_cross_entropy(h, w, y).backward()

    grads = (n + vocab) * hdim * 4  # h.grad and w.grad are outputs of any method
    ours = peak_allocated_bytes(run) - grads
    logits = n * vocab * 4
    assert ours < logits / 8, f"peak {ours} bytes beyond the gradients vs {logits} for one logit matrix"

    def run_torch():
        F.cross_entropy(h @ w.T, y).backward()

    assert peak_allocated_bytes(run_torch) - grads >= logits  # the measurement sees a logit matrix when there is one


def test_memory_measurement_prints_no_profiler_lines():
    """The CPU peak-memory helper runs torch's profiler without its kineto ``USDT: profiler_start`` lines."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import torch\nfrom hf_tokens.benchmarking import peak_allocated_bytes\n"
        "print(peak_allocated_bytes(lambda: torch.ones(1 << 20)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "USDT" not in out.stdout + out.stderr and "profiler_start" not in out.stdout + out.stderr
    assert int(out.stdout.split()[-1]) >= 4 << 20  # the 4 MiB tensor is seen
    assert "KINETO_LOG_LEVEL" not in os.environ


def _fused_vs_recompute(h, w, b, y, **kw):
    """The loss through the fused path (float32 with gradients) and through the recompute path (per-token losses)."""
    fused = linear_cross_entropy(h, w, y, bias=b, reduction="sum", **kw)
    recompute = linear_cross_entropy(h, w, y, bias=b, reduction="none", **kw).sum()
    return fused, recompute


@pytest.mark.parametrize("opts", [{}, {"softcap": 2.0}, {"bias": True}], ids=str)
def test_fused_loss_equals_recompute_path_and_survives_a_second_backward(opts):
    opts = dict(opts)
    h, w, b, y = _inputs((23,), 16, 130, torch.float32, seed=4, bias=opts.pop("bias", False))
    y[::5] = -100
    fused, recompute = _fused_vs_recompute(h, w, b, y, **opts)
    assert type(fused.grad_fn).__name__ == "LinearCrossEntropySumBackward"
    _close(fused, recompute, torch.float32, "loss")
    ref = _grads(recompute * 3, [h, w, b])
    first = _grads(fused * 3, [h, w, b])  # the gradients formed in the forward, scaled in place
    second = _grads(fused * 3, [h, w, b])  # consumed: a retained graph's second backward recomputes
    for a, b_, c, name in zip(first, second, ref, "hwb"):
        _close(a, c, torch.float32, f"first backward {name}")
        _close(b_, c, torch.float32, f"second backward {name}")


def test_fused_loss_only_forms_the_gradients_asked_for():
    """A frozen lm_head (LoRA) gets no weight gradient; under no_grad the forward-only path runs."""
    h, w, _, y = _inputs((9,), 16, 70, torch.float32, seed=6)
    w.requires_grad_(False)
    loss = linear_cross_entropy(h, w, y)
    (gh,) = torch.autograd.grad(loss, [h])
    _close(gh, torch.autograd.grad(naive(h, w, y), [h])[0], torch.float32, "grad h")
    with torch.no_grad():
        _close(linear_cross_entropy(h, w, y), naive(h, w, y), torch.float32, "no-grad loss")
    _, _, gh_only, gw_only, _, _ = fused_loss.loss_and_grads(h, w, None, y, None, None, 4, 64, (True, False, False))
    assert gh_only is not None and gw_only is None


def test_fused_loss_filtering_skips_negligible_sub_blocks_only():
    """As the recompute path: vocabulary sub-blocks without a target and below eps leave the gradient matmuls."""
    torch.manual_seed(0)
    n, hdim, vocab = 12, 16, 256
    h = torch.randn(n, hdim)
    w = torch.randn(vocab, hdim) * 0.1
    y = torch.randint(0, 64, (n,))
    w[y] += h * 3
    needs = (True, True, False)
    exact = fused_loss.loss_and_grads(h, w, None, y, None, None, 4, 64, needs)
    eps = reference.resolve_filter_eps("auto", torch.bfloat16)
    filtered = fused_loss.loss_and_grads(h, w, None, y, None, eps, 4, 64, needs)
    assert exact[5] == 0 and filtered[5] > 0
    assert torch.equal(filtered[0], exact[0]) and torch.equal(filtered[3][:64], exact[3][:64])
    torch.testing.assert_close(filtered[2], exact[2], rtol=0, atol=eps)
    torch.testing.assert_close(filtered[3], exact[3], rtol=0, atol=eps)
    recompute = reference.backward_grads(
        h, w, None, y, exact[1], torch.zeros(n), torch.ones(n), None, None, 1.0, None, 4, 64, needs
    )  # d(sum logp) = -d(loss sum)
    torch.testing.assert_close(exact[2], -recompute[0])
    torch.testing.assert_close(exact[3], -recompute[1])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda h, w, y: linear_cross_entropy(h, w[:, :-1], y), ValueError, "last dimension"),
        (lambda h, w, y: linear_cross_entropy(h, w, y[:-1]), ValueError, "labels must have"),
        (lambda h, w, y: linear_cross_entropy(h, w, y + 1000), ValueError, r"labels must lie in \[0, 50\)"),
        (lambda h, w, y: linear_cross_entropy(h, w, y - 1000), ValueError, "labels must lie"),
        (lambda h, w, y: linear_cross_entropy(h, w.double(), y), TypeError, "same dtype"),
        (lambda h, w, y: linear_cross_entropy(h, w, y.float()), TypeError, "integer tensor"),
        (lambda h, w, y: linear_cross_entropy(h.long(), w, y), TypeError, "floating-point"),
        (lambda h, w, y: linear_cross_entropy(h, w, y, reduction="avg"), ValueError, "reduction must be one of"),
        (lambda h, w, y: linear_cross_entropy(h, w, y, softcap=0), ValueError, "softcap"),
        (lambda h, w, y: linear_cross_entropy(h, w, y, impl="cuda"), ValueError, "impl must be one of"),
        (lambda h, w, y: linear_cross_entropy(h, w, y, filter_eps="high"), ValueError, "filter_eps"),
        (lambda h, w, y: linear_cross_entropy(h, w, y, bias=torch.zeros(49)), ValueError, "bias must have shape"),
        (lambda h, w, y: linear_cross_entropy(h[0], w, y[0], shift=True), ValueError, "shift=True"),
        (lambda h, w, y: linear_log_probs(h, w, y.clamp(min=0), temperature=0), ValueError, "temperature"),
        (lambda h, w, y: linear_log_probs(h, w, y), ValueError, "token_ids must lie"),
        (lambda h, w, y: linear_entropy(h, w.T), ValueError, "last dimension"),
    ],
)
def test_bad_input_raises_before_work(call, error, match):
    h, w, _, y = _inputs((6,), 8, 50, torch.float32)
    y[0] = -100
    with pytest.raises(error, match=match):
        call(h, w, y)
    assert h.grad is None and w.grad is None


def test_triton_gradient_filtering_skips_a_negligible_tile():
    """A vocabulary tile (128 entries) where every softmax entry is below 2**-12 gets no gradient when filtering."""
    from hf_tokens.ops.linear_cross_entropy import triton as triton_impl

    torch.manual_seed(0)
    n, hdim, vocab = 16, 16, 256
    h = torch.randn(n, hdim)
    w = torch.randn(vocab, hdim) * 0.05
    y = torch.randint(0, 128, (n,))  # targets in the first tile only
    w[y] += h * 2
    lse, ent, _ = triton_impl.forward_stats(h, w, None, y, None, 1.0)
    p_tail = torch.softmax(h @ w.T, -1)[:, 128:]
    assert p_tail.max() < 2**-12 and p_tail.max() > 0
    args = (h, w, None, y, lse, ent, torch.full((n,), -1.0 / n), None, None, 1.0)
    _, exact, _ = triton_impl.backward_grads(*args, None, (True, True, False))
    _, filtered, _ = triton_impl.backward_grads(*args, 2**-12, (True, True, False))
    assert exact[128:].abs().max() > 0 and torch.all(filtered[128:] == 0)
    torch.testing.assert_close(filtered[:128], exact[:128])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_contract(dtype):
    from hf_tokens.ops.linear_cross_entropy.contract import contract
    from hf_tokens.registry import get

    spec = get("cut-cross-entropy")
    assert spec.implemented and spec.extension == "ops" and spec.card_kind == "kernel"
    c = spec.load("contract")()
    assert c["fn"] is contract()["fn"] is spec.load("entry")
    for impl in c["impls"]:
        args, kwargs = c["make_inputs"](dtype, 0)
        ours = c["fn"](*args, impl=impl, **kwargs)
        grads = torch.autograd.grad(ours, args[:2])
        args, kwargs = c["make_inputs"](dtype, 0)
        ref = c["naive"](*args, **kwargs)
        ref_grads = torch.autograd.grad(ref, args[:2])
        rtol, atol = c["tolerances"][dtype]
        torch.testing.assert_close(ours.float(), ref.float(), rtol=rtol, atol=atol)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a.float(), b.float(), rtol=rtol, atol=atol)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("opts", [{}, {"softcap": 20.0}, {"reduction": "none"}], ids=str)
def test_triton_on_gpu_matches_reference(dtype, opts):
    """The compiled kernel (not the interpreter) at a realistic shape, loss and gradients, vs the fp32 oracle."""
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(3000, 576, generator=gen).to("cuda", dtype).requires_grad_(True)
    w = (torch.randn(49157, 576, generator=gen) / 24).to("cuda", dtype).requires_grad_(True)
    y = torch.randint(0, 49157, (3000,), generator=gen).cuda()
    y[::5] = -100
    ours = linear_cross_entropy(h, w, y, impl="triton", **opts)
    ref = naive(h, w, y, **opts)
    _close(ours, ref, dtype, "loss")
    up = torch.rand(ours.shape, device="cuda") + 0.5
    for g_o, g_r, name in zip(_grads((ours * up).sum(), [h, w]), _grads((ref * up).sum(), [h, w]), "hw"):
        _close(g_o, g_r, dtype, f"grad {name}")
    lp, ent = linear_log_probs_and_entropy(h, w, y.clamp(min=0), impl="triton")
    lp_r, ent_r = linear_log_probs_and_entropy(h.float(), w.float(), y.clamp(min=0), impl="reference")
    _close(lp, lp_r, dtype, "log-probs")
    _close(ent, ent_r, dtype, "entropy")


def test_rl_quantities_match_trl():
    """What TRL's GRPO computes from materialised logits, from hidden states alone (temperature included)."""
    from trl.trainer.utils import entropy_from_logits, selective_log_softmax

    h, w, _, y = _inputs((2, 7), 32, 211, torch.float32, seed=5)
    logits = h @ w.T
    torch.testing.assert_close(
        linear_log_probs(h, w, y, temperature=0.9), selective_log_softmax(logits, y, temperature=0.9)
    )
    torch.testing.assert_close(linear_entropy(h, w), entropy_from_logits(logits))
