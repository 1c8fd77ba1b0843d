"""The reference path's training loss: ``sum_n -log softmax(z_n)[y_n]`` with its gradients formed in the forward.

A summed (or averaged) cross-entropy has the same upstream gradient for every token, so its gradients w.r.t.
``hidden``, ``weight`` and ``bias`` are known up to one scalar as soon as the softmax of a token is known. This
module computes them there, token chunk by token chunk, over the whole vocabulary at once:

    z = h_c @ W.T (+ b)          one matmul, a [chunk x V] float32 block (softcapped if asked)
    g = softmax(z) - onehot(y_c)  in place: max, exp, sum, scale, one subtraction per row
    dh_c = g @ W,  dW += g.T @ h_c,  db += sum(g)

and the backward only multiplies the stored gradients by the upstream scalar (in place, so no second copy of
``dW`` is made). That is three matmuls per chunk -- the number a materialised-logits loss needs -- instead of the
four of the recompute backward in ``reference.py`` (forward, recomputed logits, two gradient matmuls), and the
``[chunk x V]`` block stays the only large temporary. This is the design of Liger's fused linear cross-entropy
(Hsu et al., 2024, arXiv:2410.10989) in plain PyTorch, used as the CPU path of Cut Cross-Entropy
(arXiv:2411.09009); deviations from the paper's kernel:

* memory is ``O(chunk x V)`` rather than ``O(N + V)``: the block spans the whole vocabulary because the softmax
  normaliser of a token must be known before its gradient can be formed without recomputing the logits. The
  chunk (:func:`fused_chunk_tokens`) keeps the block near ``FUSED_BLOCK_ELEMENTS`` float32 entries but never below
  ``FUSED_MIN_CHUNK_TOKENS`` tokens, because a thinner chunk re-reads ``W`` and re-writes ``dW`` too often;
* the gradient work is done even if ``backward`` is never called (use ``torch.no_grad()`` for evaluation; the API
  then takes the forward-only online log-sum-exp of ``reference.py``);
* gradient filtering skips ``[chunk x chunk_vocab]`` sub-blocks of the two gradient matmuls whose softmax entries
  are all below ``filter_eps`` and that hold no target, as the recompute path does;
* float32 only: lower-precision inputs keep the recompute path, which up-casts ``W`` one vocabulary block at a time
  (here the whole ``W`` would be up-cast per chunk, and ``dW`` would need a float32 copy).

A second backward through the same graph (``retain_graph=True``) cannot reuse the consumed gradients and falls back to
``reference.backward_grads`` (the recompute backward), so it is still exact.
"""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.ops.linear_cross_entropy import reference

# The [chunk x V] float32 block: about 2**24 entries (64 MiB), and at least 128 tokens (see the module docstring).
FUSED_BLOCK_ELEMENTS = 1 << 24
FUSED_MIN_CHUNK_TOKENS = 128


def fused_chunk_tokens(n_tokens: int, vocab: int) -> int:
    """Tokens per chunk: ``FUSED_BLOCK_ELEMENTS // vocab``, at least ``FUSED_MIN_CHUNK_TOKENS``, at most all."""
    return max(1, min(n_tokens, max(FUSED_MIN_CHUNK_TOKENS, FUSED_BLOCK_ELEMENTS // max(vocab, 1))))


def _kept_ranges(p: torch.Tensor, targets: torch.Tensor, chunk_vocab: int, eps: float) -> list[tuple[int, int]]:
    """Vocabulary ranges ``[a, b)`` whose ``[chunk x chunk_vocab]`` sub-blocks hold an entry >= eps or a target."""
    vocab = p.shape[1]
    n_blocks = -(-vocab // chunk_vocab)
    col_max = p.amax(0)
    block_max = torch.nn.functional.pad(col_max, (0, n_blocks * chunk_vocab - vocab)).view(n_blocks, -1).amax(1)
    keep = block_max >= eps
    keep[targets // chunk_vocab] = True
    ranges: list[tuple[int, int]] = []
    for i in keep.nonzero().squeeze(1).tolist():
        a, b = i * chunk_vocab, min(vocab, (i + 1) * chunk_vocab)
        if ranges and ranges[-1][1] == a:
            ranges[-1] = (ranges[-1][0], b)
        else:
            ranges.append((a, b))
    return ranges


@torch.no_grad()
def loss_and_grads(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    softcap: float | None,
    filter_eps: float | None,
    chunk_tokens: int,
    chunk_vocab: int,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, int]:
    """``(loss_sum, lse, grad_h, grad_w, grad_b, skipped)`` of ``sum_n -log softmax(z_n)[targets_n]``, all float32.

    The gradients are those of the summed loss (upstream gradient 1); ``skipped`` counts the ``[chunk x
    chunk_vocab]`` sub-blocks left out of the gradient matmuls by filtering.
    """
    n, hdim = hidden.shape
    vocab = weight.shape[0]
    dev = hidden.device
    need_h, need_w, need_b = needs
    grad_h = torch.empty(n, hdim, dtype=torch.float32, device=dev) if need_h else None
    grad_w = torch.empty(vocab, hdim, dtype=torch.float32, device=dev) if need_w else None  # written by chunk 0
    grad_b = torch.zeros(vocab, dtype=torch.float32, device=dev) if need_b else None
    lse = torch.empty(n, dtype=torch.float32, device=dev)
    loss = torch.zeros((), dtype=torch.float32, device=dev)
    rows_max = min(chunk_tokens, n)
    block = torch.empty(rows_max, vocab, dtype=torch.float32, device=dev)
    capped = torch.empty_like(block) if softcap is not None else None
    skipped = 0
    for n0 in range(0, n, chunk_tokens):
        h = hidden[n0 : n0 + chunk_tokens]
        y = targets[n0 : n0 + chunk_tokens]
        rows = h.shape[0]
        z = block[:rows]
        if bias is None:
            torch.mm(h, weight.T, out=z)
        else:
            torch.addmm(bias, h, weight.T, out=z)
        tanh = None
        if softcap is not None and capped is not None:  # z = c * tanh(l / c); the chain rule needs 1 - tanh^2
            tanh = z.div_(softcap).tanh_()
            z = torch.mul(tanh, softcap, out=capped[:rows])
        m = z.amax(1, keepdim=True)
        z.sub_(m)
        target_z = z.gather(1, y[:, None])  # z - m at the target
        s = z.exp_().sum(1, keepdim=True)
        log_s = s.log()
        lse[n0 : n0 + rows] = (m + log_s).squeeze(1)
        loss += (log_s - target_z).sum()
        g = z.mul_(s.reciprocal_())  # softmax
        ranges = [(0, vocab)] if filter_eps is None else _kept_ranges(g, y, chunk_vocab, filter_eps)
        skipped += -(-vocab // chunk_vocab) - sum(-(-(b - a) // chunk_vocab) for a, b in ranges)
        g[torch.arange(rows, device=dev), y] -= 1  # softmax - onehot = d(-log p_y) / dz
        if tanh is not None:
            g.mul_(tanh.mul_(tanh).neg_().add_(1))
        if grad_h is not None:
            gh = grad_h[n0 : n0 + rows]
            if len(ranges) == 1 and ranges[0] == (0, vocab):
                torch.mm(g, weight, out=gh)
            else:
                gh.zero_()
                for a, b in ranges:
                    gh.addmm_(g[:, a:b], weight[a:b])
        if grad_w is not None:
            if n0 == 0 and ranges == [(0, vocab)]:
                torch.mm(g.T, h, out=grad_w)  # no separate zero-fill pass over [V x H]
            else:
                if n0 == 0:
                    grad_w.zero_()
                for a, b in ranges:
                    grad_w[a:b].addmm_(g[:, a:b].T, h)
        if grad_b is not None:
            grad_b += g.sum(0)
    if grad_w is not None and n == 0:
        grad_w.zero_()
    return loss, lse, grad_h, grad_w, grad_b, skipped


class LinearCrossEntropySum(torch.autograd.Function):
    """Float32 scalar ``sum_n -log softmax(hidden_n @ weight.T (+ bias), softcapped)[targets_n]`` (module doc)."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        softcap: float | None,
        filter_eps: float | None,
        chunk_tokens: int,
        chunk_vocab: int,
    ) -> torch.Tensor:
        needs = (ctx.needs_input_grad[0], ctx.needs_input_grad[1], bias is not None and ctx.needs_input_grad[2])
        loss, lse, gh, gw, gb, _ = loss_and_grads(
            hidden, weight, bias, targets, softcap, filter_eps, chunk_tokens, chunk_vocab, needs
        )
        ctx.save_for_backward(hidden, weight, bias, targets, lse)
        ctx.grads = (gh, gw, gb)
        ctx.cfg = (softcap, filter_eps, chunk_vocab, needs)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple:
        grads, ctx.grads = ctx.grads, None  # consumed: a retained graph's next backward recomputes
        if grads is None:
            return (*_recomputed_grads(ctx, grad_loss), None, None, None, None, None)
        if not bool(grad_loss == 1):
            for g in grads:
                if g is not None:
                    g.mul_(grad_loss)
        return (*grads, None, None, None, None, None)


def _recomputed_grads(ctx: Any, grad_loss: torch.Tensor) -> tuple:
    hidden, weight, bias, targets, lse = ctx.saved_tensors
    softcap, filter_eps, chunk_vocab, needs = ctx.cfg
    ct, cv = reference.chunk_sizes(hidden.shape[0], weight.shape[0], None, chunk_vocab)
    grad_logp = (-grad_loss.float()).expand(hidden.shape[0])
    gh, gw, gb, _ = reference.backward_grads(
        hidden, weight, bias, targets, lse, torch.zeros_like(lse), grad_logp, None, softcap, 1.0, filter_eps,
        ct, cv, needs,
    )  # fmt: skip
    return gh, gw, gb


def linear_cross_entropy_sum(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    *,
    softcap: float | None = None,
    filter_eps: float | None = None,
    chunk_tokens: int | None = None,
    chunk_vocab: int | None = None,
) -> torch.Tensor:
    """Validated float32 inputs (``hidden [N, H]``, ``targets [N]`` in range) -> the summed loss, float32 scalar."""
    ct = chunk_tokens or fused_chunk_tokens(hidden.shape[0], weight.shape[0])
    cv = min(weight.shape[0], chunk_vocab or reference.DEFAULT_CHUNK_VOCAB)
    with torch.autocast(hidden.device.type, enabled=False):
        out: torch.Tensor = LinearCrossEntropySum.apply(hidden, weight, bias, targets, softcap, filter_eps, ct, cv)
    return out
