"""Rotation of a Llama-style decoder by orthogonal matrices fused into its weights (RSQ's step 1, as QuaRot does).

* RMSNorm scales are folded into the linear layers that read the norm's output (q/k/v, gate/up, the head) and set
  to 1: an RMSNorm without scale commutes with an orthogonal ``Q`` (``||x Q|| = ||x||``).
* The residual stream is rotated: embeddings ``E Q``; layers reading it ``W Q``; layers writing to it ``Q^T W``
  (and their bias ``b Q``). Tied embeddings are untied (the head carries the final norm's scale).
* Values and attention outputs get a per-head rotation fused offline (``v_proj``'s output rows and ``o_proj``'s
  input columns), as QuaRot does.

The model computes the same function in exact arithmetic (tested on a tiny Llama and on SmolLM2). Rotations are
built in float64 and applied in the weights' dtype (float32 products keep the logits close; the embedding and head
products dominate the cost). Deviation from QuaRot/RSQ: no *online* Hadamard before ``down_proj`` (this library
stores plain linear layers; the paper's weight-only setting does not need activation rotations for correctness,
they only flatten ``down_proj``'s inputs further).

A "hadamard" rotation is a randomised Hadamard matrix ``H diag(s) / sqrt(n)`` (random signs ``s``), built for
``n = 2**a * m`` with ``m`` 1 (Sylvester), ``q + 1`` (Paley I, ``q`` prime = 3 mod 4) or ``2 (q + 1)`` (Paley II,
``q`` prime = 1 mod 4); e.g. 576 = 16 x 36. "orthogonal" is a random orthogonal matrix (QR of a Gaussian).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

__all__ = ["decoder_parts", "hadamard", "rotate_model", "rotation_matrix"]


def _is_prime(q: int) -> bool:
    return q > 1 and all(q % d for d in range(2, int(q**0.5) + 1))


def _jacobsthal(q: int) -> torch.Tensor:
    squares = {(x * x) % q for x in range(1, q)}
    chi = torch.tensor([0] + [1 if a in squares else -1 for a in range(1, q)], dtype=torch.float64)
    idx = torch.arange(q)
    return chi[(idx[None, :] - idx[:, None]) % q]


def _paley(m: int) -> torch.Tensor | None:
    q = m - 1
    if q % 4 == 3 and _is_prime(q):  # Paley I
        s = torch.zeros(m, m, dtype=torch.float64)
        s[0, 1:], s[1:, 0], s[1:, 1:] = 1.0, -1.0, _jacobsthal(q)
        return s + torch.eye(m, dtype=torch.float64)
    q = m // 2 - 1
    if m % 2 == 0 and q % 4 == 1 and _is_prime(q):  # Paley II
        c = torch.zeros(q + 1, q + 1, dtype=torch.float64)
        c[0, 1:], c[1:, 0], c[1:, 1:] = 1.0, 1.0, _jacobsthal(q)
        a = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
        b = torch.tensor([[1.0, -1.0], [-1.0, -1.0]], dtype=torch.float64)
        return torch.kron(c, a) + torch.kron(torch.eye(q + 1, dtype=torch.float64), b)
    return None


@functools.lru_cache(maxsize=16)
def hadamard(n: int) -> torch.Tensor:
    """A Hadamard matrix of order ``n`` scaled to be orthogonal (float64), or ``ValueError`` if none is built."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    power = 1
    while n % (power * 2) == 0:
        power *= 2
    base = None
    for p in range(power.bit_length() - 1, -1, -1):  # the largest power of two with a Paley/trivial cofactor
        m = n // 2**p
        base = torch.ones(1, 1, dtype=torch.float64) if m == 1 else _paley(m)
        if base is not None:
            power = 2**p
            break
    if base is None:
        raise ValueError(
            f"no Hadamard matrix of order {n} is built here (n = 2^a * m needs m = 1, q+1 or 2(q+1) for a prime q); "
            "use rotation='orthogonal'"
        )
    h = base
    sylvester = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    while h.shape[0] < n:
        h = torch.kron(sylvester, h)
    h = h / n**0.5
    if not torch.allclose(h @ h.T, torch.eye(n, dtype=torch.float64), atol=1e-10):
        raise RuntimeError(f"the Hadamard construction of order {n} is not orthogonal")
    return h


def rotation_matrix(n: int, kind: str, generator: torch.Generator) -> torch.Tensor:
    """An ``n x n`` orthogonal float64 matrix: a randomised Hadamard (``kind="hadamard"``) or a random orthogonal."""
    if kind == "hadamard":
        signs = torch.randint(0, 2, (n,), generator=generator).to(torch.float64) * 2 - 1
        return hadamard(n) * signs[None, :]
    if kind == "orthogonal":
        q, r = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
        return q * torch.sign(torch.diagonal(r))[None, :]
    raise ValueError(f"rotation must be 'hadamard' or 'orthogonal', got {kind!r}")


def decoder_parts(model: Any) -> tuple[Any, list[Any], Any, Any]:
    """``(embed_tokens, layers, final norm, lm_head)`` of a Llama-style causal LM, or ``ValueError``."""
    inner = getattr(model, "model", None)
    parts: tuple[Any, Any, Any] = (
        getattr(inner, "embed_tokens", None),
        getattr(inner, "layers", None),
        getattr(inner, "norm", None),
    )
    head = getattr(model, "lm_head", None)
    if any(p is None for p in parts) or not isinstance(head, nn.Linear):
        raise ValueError(
            f"{type(model).__name__} is not a Llama-style causal LM (model.model.embed_tokens/layers/norm and "
            "lm_head): RSQ supports Llama, Qwen2 and Mistral-style decoders"
        )
    for layer in parts[1]:
        for path in _READS + _WRITES + ("input_layernorm", "post_attention_layernorm"):
            if _get(layer, path) is None:
                raise ValueError(f"decoder layer {type(layer).__name__} has no {path}: not a Llama-style layer")
    return parts[0], list(parts[1]), parts[2], head


_READS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj")
_WRITES = ("self_attn.o_proj", "mlp.down_proj")


def _get(module: Any, path: str) -> Any:
    for name in path.split("."):
        module = getattr(module, name, None)
        if module is None:
            return None
    return module


def _check_rmsnorm(norm: Any) -> None:
    name = type(norm).__name__
    if "RMSNorm" not in name or "Gemma" in name or getattr(norm, "bias", None) is not None:
        raise ValueError(f"rotation needs RMSNorm layers with a plain scale (x / rms * w), got {name}")


@torch.no_grad()
def _fold_norm(norm: Any, readers: list[Any]) -> None:
    for lin in readers:
        lin.weight.mul_(norm.weight.to(lin.weight.dtype)[None, :])
    norm.weight.fill_(1.0)


@torch.no_grad()
def _rotate_in(lin: Any, q: torch.Tensor) -> None:
    """``W Q``: the layer reads a rotated input."""
    lin.weight.copy_(lin.weight @ q.to(lin.weight.dtype))


@torch.no_grad()
def _rotate_out(lin: Any, q: torch.Tensor) -> None:
    """``Q^T W`` (and ``b Q``): the layer writes a rotated output."""
    lin.weight.copy_(q.T.to(lin.weight.dtype) @ lin.weight)
    if lin.bias is not None:
        lin.bias.copy_(lin.bias @ q.to(lin.bias.dtype))


def untie_head(model: Any, head: nn.Linear, embed: nn.Embedding) -> None:
    if head.weight is embed.weight or head.weight.data_ptr() == embed.weight.data_ptr():
        head.weight = nn.Parameter(embed.weight.detach().clone(), requires_grad=False)
    for config in (model.config, getattr(model.config, "get_text_config", lambda: None)()):
        if config is not None and getattr(config, "tie_word_embeddings", False):
            config.tie_word_embeddings = False
    if hasattr(model, "all_tied_weights_keys"):
        model.all_tied_weights_keys = {}


@torch.no_grad()
def rotate_model(model: Any, kind: str = "hadamard", seed: int = 0) -> None:
    """Rotate ``model`` in place (see the module docstring); validates the whole model before changing anything."""
    embed, layers, norm, head = decoder_parts(model)
    for n in [norm] + [m for layer in layers for m in (layer.input_layernorm, layer.post_attention_layernorm)]:
        _check_rmsnorm(n)
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    hidden = embed.weight.shape[1]
    head_dim = getattr(config, "head_dim", None) or hidden // config.num_attention_heads
    generator = torch.Generator().manual_seed(seed)
    q = rotation_matrix(hidden, kind, generator)
    q_head = rotation_matrix(head_dim, kind, generator)
    untie_head(model, head, embed)
    for layer in layers:
        _fold_norm(layer.input_layernorm, [_get(layer, p) for p in _READS[:3]])
        _fold_norm(layer.post_attention_layernorm, [_get(layer, p) for p in _READS[3:]])
    _fold_norm(norm, [head])
    embed.weight.copy_(embed.weight @ q.to(embed.weight.dtype))
    _rotate_in(head, q)
    for layer in layers:
        for path in _READS:
            _rotate_in(_get(layer, path), q)
        for path in _WRITES:
            _rotate_out(_get(layer, path), q)
        v, o = layer.self_attn.v_proj, layer.self_attn.o_proj
        kv_heads, heads = v.out_features // head_dim, o.in_features // head_dim
        _rotate_out(v, torch.block_diag(*[q_head] * kv_heads))
        _rotate_in(o, torch.block_diag(*[q_head] * heads))
