# Generated from hf_tokens (reference.py) by export_kernel; do not edit.
"""Pure-PyTorch Cut Cross-Entropy: per-token softmax statistics of ``hidden @ weight.T`` without the logits.

Cut Cross-Entropy (Wijmans et al., 2024, arXiv:2411.09009) never writes the ``[tokens x vocab]`` logit matrix to
memory. The forward evaluates the log-sum-exp over the vocabulary on the fly, one ``[token chunk x vocab chunk]``
block at a time with an online (running-max) reduction, and computes the target logit by an indexed dot product.
The backward recomputes each block of logits, forms the gradient of the block from the saved log-sum-exp and
multiplies it straight into the gradients of ``hidden`` and ``weight``; blocks whose every gradient entry is below
numerical precision are skipped (the paper's gradient filtering, see :func:`resolve_filter_eps`).

This module is the oracle and the CPU path (a float32 ``mean``/``sum`` loss with gradients takes ``fused_loss.py``,
which needs no recomputation); ``triton.py`` is the GPU kernel with the same maths. Both compute one
autograd function, :class:`LinearSoftmaxStats`, which returns per token

* ``logp``: ``log softmax(z)[target]`` (``-logp`` is the cross-entropy), and
* ``entropy``: ``-sum_j p_j log p_j`` of ``softmax(z)``,

where ``z = softcap * tanh((hidden @ weight.T + bias) / softcap) / temperature`` (softcap and bias optional).

Deviations from the paper's kernel, all deliberate:

* Blocks are big (``chunk_tokens x chunk_vocab``, about 4M entries by default) because on a CPU one large matmul is
  far faster than many small ones; gradient filtering therefore skips a whole big block, which on a CPU rarely
  happens for a random model and only pays on trained, peaky models. The paper's vocabulary re-ordering (sorting
  vocabulary blocks by average logit so that filtered blocks cluster) is not done.
* Every block is computed in float32 (inputs of lower precision are up-cast chunk by chunk), so the reference is a
  little more accurate than a bf16 matmul and is a fair oracle for the bf16 Triton kernel.
* The entropy and its gradient ``dH/dz_j = -p_j (log p_j + H)`` come from the same online reduction (two running
  sums), an extension the paper does not have; it serves RL trainers that mask tokens by entropy.
"""

from __future__ import annotations

import math
from typing import Any

import torch

# Roughly 4M float32 entries (16 MiB) per logit block; the backward holds two such buffers at a time.
DEFAULT_BLOCK_ELEMENTS = 1 << 22
DEFAULT_CHUNK_VOCAB = 4096


def resolve_filter_eps(filter_eps: float | str | None, dtype: torch.dtype) -> float | None:
    """The gradient-filtering threshold: ``"auto"`` is ``torch.finfo(dtype).eps / 32``.

    That is 2**-12 for bfloat16 (the paper's "below bf16 precision"), 2**-15 for float16 and 2**-28 for float32: a
    softmax gradient entry below it cannot change a gradient accumulated in ``dtype``. ``None`` disables filtering.
    """
    if filter_eps is None:
        return None
    if isinstance(filter_eps, str):
        if filter_eps != "auto":
            raise ValueError(f"filter_eps must be 'auto', None or a float in [0, 1), got {filter_eps!r}")
        return torch.finfo(dtype).eps / 32
    if isinstance(filter_eps, bool) or not isinstance(filter_eps, (int, float)) or not 0 <= filter_eps < 1:
        raise ValueError(f"filter_eps must be 'auto', None or a float in [0, 1), got {filter_eps!r}")
    return float(filter_eps)


def _block_logits(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    softcap: float | None,
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``z`` of one block in float32 and, with a softcap, ``tanh(l / softcap)`` for the backward."""
    z = hidden.float() @ weight.float().T
    if bias is not None:
        z += bias.float()
    tanh = None
    if softcap is not None:
        tanh = z.div_(softcap).tanh_()
        z = tanh * softcap
    if temperature != 1.0:
        z.div_(temperature)
    return z, tanh


def _target_logits(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    softcap: float | None,
    temperature: float,
) -> torch.Tensor:
    """The indexed matmul: ``z[n, targets[n]]`` as a row-wise dot product, without the other logits."""
    z = (hidden.float() * weight[targets].float()).sum(-1)
    if bias is not None:
        z += bias[targets].float()
    if softcap is not None:
        z = torch.tanh(z / softcap) * softcap
    return z / temperature


def chunk_sizes(n_tokens: int, vocab: int, chunk_tokens: int | None, chunk_vocab: int | None) -> tuple[int, int]:
    """Block shape: ``chunk_vocab`` (default 4096) and enough tokens for about 4M entries per block."""
    cv = min(vocab, chunk_vocab or DEFAULT_CHUNK_VOCAB)
    ct = min(max(n_tokens, 1), chunk_tokens or max(1, DEFAULT_BLOCK_ELEMENTS // max(cv, 1)))
    return max(ct, 1), max(cv, 1)


def forward_stats(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor | None,
    softcap: float | None,
    temperature: float,
    chunk_tokens: int,
    chunk_vocab: int,
    with_entropy: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(lse, entropy, target_logit)`` per token, float32, by an online log-sum-exp over vocabulary blocks.

    Running sums per token, relative to the running max ``m``: ``s = sum exp(z - m)`` and
    ``u = sum exp(z - m) (z - m)``; then ``lse = m + log s`` and ``entropy = log s - u / s``. Without
    ``with_entropy`` the second sum is skipped and the entropy is returned as zeros.
    """
    n, vocab = hidden.shape[0], weight.shape[0]
    dev = hidden.device
    lse = torch.empty(n, dtype=torch.float32, device=dev)
    entropy = torch.empty(n, dtype=torch.float32, device=dev)
    for n0 in range(0, n, chunk_tokens):
        h = hidden[n0 : n0 + chunk_tokens]
        rows = h.shape[0]
        m = torch.full((rows,), -math.inf, dtype=torch.float32, device=dev)
        s = torch.zeros(rows, dtype=torch.float32, device=dev)
        u = torch.zeros(rows, dtype=torch.float32, device=dev)
        for v0 in range(0, vocab, chunk_vocab):
            b = None if bias is None else bias[v0 : v0 + chunk_vocab]
            z, _ = _block_logits(h, weight[v0 : v0 + chunk_vocab], b, softcap, temperature)
            m_new = torch.maximum(m, z.amax(1))
            delta = m - m_new  # <= 0; -inf on the first block, where s = u = 0
            scale = torch.exp(delta)
            if with_entropy:
                u = scale * (u + torch.nan_to_num(delta, neginf=0.0) * s)
            s = scale * s
            z = z.sub_(m_new[:, None])  # z - m_new, in place
            if with_entropy:
                e = torch.exp(z)
                s += e.sum(1)
                u += (e.mul_(z)).sum(1)
            else:
                s += z.exp_().sum(1)
            m = m_new
        log_s = torch.log(s)
        lse[n0 : n0 + rows] = m + log_s
        entropy[n0 : n0 + rows] = log_s - u / s
    target_logit = lse.new_zeros(n)
    if targets is not None and n:
        target_logit = _target_logits(hidden, weight, bias, targets, softcap, temperature)
    return lse, entropy, target_logit


def backward_grads(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor | None,
    lse: torch.Tensor,
    entropy: torch.Tensor,
    grad_logp: torch.Tensor | None,
    grad_entropy: torch.Tensor | None,
    softcap: float | None,
    temperature: float,
    filter_eps: float | None,
    chunk_tokens: int,
    chunk_vocab: int,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, int]:
    """Gradients of ``sum(grad_logp * logp + grad_entropy * entropy)`` w.r.t. hidden, weight and bias.

    Per block, with ``p = exp(z - lse)``: ``dL/dz = grad_logp * (onehot - p) - grad_entropy * p * (log p + H)``,
    then through the temperature (``/ T``) and the softcap (``* (1 - tanh^2)``) into two matmuls. A block is
    skipped when every unit gradient entry (``|p - onehot|`` and, with an entropy gradient, ``|p (log p + H)|``) is
    below ``filter_eps``. Returns the gradients and the number of skipped blocks.
    """
    n, hdim = hidden.shape
    vocab = weight.shape[0]
    dev = hidden.device
    need_h, need_w, need_b = needs
    grad_h = torch.zeros(n, hdim, dtype=torch.float32, device=dev) if need_h else None
    grad_w = torch.empty(vocab, hdim, dtype=weight.dtype, device=dev) if need_w else None
    grad_b = torch.zeros(vocab, dtype=torch.float32, device=dev) if need_b else None
    skipped = 0
    for v0 in range(0, vocab, chunk_vocab):
        w = weight[v0 : v0 + chunk_vocab]
        cv = w.shape[0]
        w32 = w.float()
        b = None if bias is None else bias[v0 : v0 + chunk_vocab]
        gw = None
        if grad_w is not None:  # float32 weights accumulate in place; others in a float32 chunk buffer
            gw = grad_w[v0 : v0 + cv].zero_() if grad_w.dtype == torch.float32 else w32.new_zeros(cv, hdim)
        for n0 in range(0, n, chunk_tokens):
            sl = slice(n0, n0 + chunk_tokens)
            h32 = hidden[sl].float()
            z, tanh = _block_logits(h32, w32, b, softcap, temperature)
            logp = z.sub_(lse[sl, None])
            p = torch.exp(logp) if grad_entropy is not None else logp.exp_()  # logp is needed only for H
            local = None
            if targets is not None and grad_logp is not None:
                t = targets[sl] - v0
                in_block = (t >= 0) & (t < cv)
                local = (in_block.nonzero().squeeze(1), t[in_block])
            if filter_eps is not None and bool(p.amax() < filter_eps) and (local is None or local[0].numel() == 0):
                ent_small = grad_entropy is None or bool((p * (logp + entropy[sl, None])).abs_().amax() < filter_eps)
                if ent_small:
                    skipped += 1
                    continue
            # g = -p * (grad_logp + grad_entropy * (log p + H)) (+ grad_logp at the target, below)
            if grad_entropy is not None:
                coef = logp.add_(entropy[sl, None]).mul_(grad_entropy[sl, None])
                if grad_logp is not None:
                    coef += grad_logp[sl, None]
                g = p.mul_(coef).neg_()
            elif grad_logp is not None:
                g = p.mul_(-grad_logp[sl, None])  # one pass: the coefficient is per row
            else:  # unreachable: backward returns early when neither output has a gradient
                raise RuntimeError("linear softmax stats: no gradient to propagate")
            if local is not None and grad_logp is not None and local[0].numel():
                rows_i, cols_i = local
                g[rows_i, cols_i] += grad_logp[sl][rows_i]
            if temperature != 1.0:
                g.div_(temperature)
            if tanh is not None:
                g.mul_(1 - tanh * tanh)
            if grad_h is not None:
                grad_h[sl].addmm_(g, w32)
            if gw is not None:
                gw.addmm_(g.T, h32)
            if grad_b is not None:
                grad_b[v0 : v0 + cv] += g.sum(0)
        if grad_w is not None and gw is not None and gw.dtype != grad_w.dtype:
            grad_w[v0 : v0 + cv] = gw
    return (
        None if grad_h is None else grad_h.to(hidden.dtype),
        grad_w,
        None if grad_b is None or bias is None else grad_b.to(bias.dtype),
        skipped,
    )


class LinearSoftmaxStats(torch.autograd.Function):
    """``(logp [N], entropy [N])`` of ``softmax(z)`` with ``z`` as in the module docstring, never holding ``[N, V]``.

    ``logp`` is meaningful only when ``targets`` is given (otherwise zeros). Both outputs are float32 and
    differentiable (first order only) w.r.t. hidden, weight and bias.
    """

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor | None,
        softcap: float | None,
        temperature: float,
        filter_eps: float | None,
        chunk_tokens: int,
        chunk_vocab: int,
        with_entropy: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lse, entropy, target_logit = forward_stats(
            hidden, weight, bias, targets, softcap, temperature, chunk_tokens, chunk_vocab, with_entropy
        )
        logp = target_logit - lse if targets is not None else torch.zeros_like(lse)
        ctx.save_for_backward(hidden, weight, bias, targets, lse, entropy)
        ctx.cfg = (softcap, temperature, filter_eps, chunk_tokens, chunk_vocab)
        ctx.with_entropy = with_entropy
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(*(() if targets is not None else (logp,)), *(() if with_entropy else (entropy,)))
        return logp, entropy

    @staticmethod
    def backward(ctx: Any, grad_logp: torch.Tensor | None, grad_entropy: torch.Tensor | None) -> tuple:
        hidden, weight, bias, targets, lse, entropy = ctx.saved_tensors
        softcap, temperature, filter_eps, chunk_tokens, chunk_vocab = ctx.cfg
        if targets is None:
            grad_logp = None
        if not ctx.with_entropy:
            grad_entropy = None
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        if (grad_logp is None and grad_entropy is None) or not (need_h or need_w or need_b):
            return (None,) * 10
        gl = None if grad_logp is None else grad_logp.float()
        ge = None if grad_entropy is None else grad_entropy.float()
        with torch.autocast(hidden.device.type, enabled=False):
            gh, gw, gb, _ = backward_grads(
                hidden, weight, bias, targets, lse, entropy, gl, ge, softcap, temperature, filter_eps,
                chunk_tokens, chunk_vocab, (need_h, need_w, need_b and bias is not None),
            )  # fmt: skip
        return gh, gw, gb, None, None, None, None, None, None, None


def linear_softmax_stats(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor | None,
    *,
    softcap: float | None = None,
    temperature: float = 1.0,
    filter_eps: float | None = None,
    chunk_tokens: int | None = None,
    chunk_vocab: int | None = None,
    with_entropy: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated-input entry of the reference path: 2-D ``hidden [N, H]``, ``targets [N]`` in range or None.

    ``with_entropy=False`` skips the entropy's running sum (the entropy output is then zeros, without gradient).
    """
    ct, cv = chunk_sizes(hidden.shape[0], weight.shape[0], chunk_tokens, chunk_vocab)
    with torch.autocast(hidden.device.type, enabled=False):  # blocks are float32 by design
        out: tuple[torch.Tensor, torch.Tensor] = LinearSoftmaxStats.apply(
            hidden, weight, bias, targets, softcap, float(temperature), filter_eps, ct, cv, with_entropy
        )
    return out
