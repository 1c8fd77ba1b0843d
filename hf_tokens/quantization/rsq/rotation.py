"""Rotation of a Llama-style decoder by orthogonal matrices fused into its weights (RSQ's step 1, as QuaRot does).

* RMSNorm scales are folded into the linear layers that read the norm's output (q/k/v, gate/up, the head) and set
  to 1: an RMSNorm without scale commutes with an orthogonal ``Q`` (``||x Q|| = ||x||``).
* The residual stream is rotated: embeddings ``E Q``; layers reading it ``W Q``; layers writing to it ``Q^T W``
  (and their bias ``b Q``). Tied embeddings are untied (the head carries the final norm's scale).
* Values and attention outputs get a per-head rotation fused offline (``v_proj``'s output rows and ``o_proj``'s
  input columns), as QuaRot does.

* ``online_down_proj=True`` (QuaRot's R4, which the official RSQ code applies with ``--rotate``): ``down_proj``'s
  weight becomes ``W H`` (``H`` the exact Hadamard matrix of the intermediate size, no random signs, so nothing is
  stored) and its input is transformed at run time, ``x H`` (:func:`hadamard_transform`, ``O(n (p + m))`` for
  ``n = p m`` through the Kronecker structure): the module becomes a :class:`HadamardLinear`, and the quantized
  layer keeps the transform (``RSQLinear(input_hadamard=True)``). It spreads the intermediate activations' outliers
  over all of ``down_proj``'s input columns, the layer that quantizes worst without it.

The model computes the same function in exact arithmetic (tested on a tiny Llama and on SmolLM2). Rotations are
built in float64 and applied in the weights' dtype (float32 products keep the logits close; the embedding and head
products dominate the cost). Deviation from QuaRot/RSQ: no online Hadamard across heads before ``o_proj`` (QuaRot's
partial transform; it needs a Hadamard matrix of order ``num_attention_heads``, which SmolLM2's 9 and Qwen2.5-0.5B's
14 heads do not have); ``o_proj`` keeps the offline per-head rotation.

A "hadamard" rotation is a randomised Hadamard matrix ``H diag(s) / sqrt(n)`` (random signs ``s``), built for
``n = 2**a * m`` with ``m`` 1 (Sylvester), ``q + 1`` (Paley I, ``q`` prime = 3 mod 4) or ``2 (q + 1)`` (Paley II,
``q`` prime = 1 mod 4); e.g. 576 = 16 x 36. "orthogonal" is a random orthogonal matrix (QR of a Gaussian).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

__all__ = [
    "HadamardLinear",
    "decoder_parts",
    "hadamard",
    "hadamard_transform",
    "linear_input",
    "online_targets",
    "rotate_model",
    "rotation_matrix",
]


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


def _factors(n: int) -> tuple[int, torch.Tensor]:
    """``(p, B)``: ``n = p * m`` with ``p`` the largest power of two whose cofactor ``m`` has a Paley (or trivial)
    Hadamard matrix ``B`` (unscaled, float64), or ``ValueError``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    power = 1
    while n % (power * 2) == 0:
        power *= 2
    for p in range(power.bit_length() - 1, -1, -1):
        m = n // 2**p
        base = torch.ones(1, 1, dtype=torch.float64) if m == 1 else _paley(m)
        if base is not None:
            return 2**p, base
    raise ValueError(
        f"no Hadamard matrix of order {n} is built here (n = 2^a * m needs m = 1, q+1 or 2(q+1) for a prime q); "
        "use rotation='orthogonal'"
    )


@functools.lru_cache(maxsize=16)
def hadamard(n: int) -> torch.Tensor:
    """A Hadamard matrix of order ``n`` scaled to be orthogonal (float64): ``S_2 (x) ... (x) S_2 (x) B / sqrt(n)``
    (Sylvester factors around the base of :func:`_factors`), or ``ValueError`` if none is built."""
    _, h = _factors(n)
    sylvester = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    while h.shape[0] < n:
        h = torch.kron(sylvester, h)
    h = h / n**0.5
    if not torch.allclose(h @ h.T, torch.eye(n, dtype=torch.float64), atol=1e-10):
        raise RuntimeError(f"the Hadamard construction of order {n} is not orthogonal")
    return h


@functools.lru_cache(maxsize=32)
def _transform_factors(n: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    power, base = _factors(n)
    return hadamard(power).to(dtype=dtype, device=device), hadamard(base.shape[0]).to(dtype=dtype, device=device)


def hadamard_transform(x: torch.Tensor) -> torch.Tensor:
    """``x @ hadamard(n)`` over the last dimension without forming the ``n x n`` matrix: ``hadamard(n)`` is the
    Kronecker product ``H_p (x) H_m``, so ``x`` viewed as ``[..., p, m]`` becomes ``H_p^T X H_m``."""
    n = x.shape[-1]
    h_p, h_m = _transform_factors(n, x.dtype, x.device)
    p, m = h_p.shape[0], h_m.shape[0]
    y = x.reshape(*x.shape[:-1], p, m)
    return torch.matmul(h_p.T, torch.matmul(y, h_m)).reshape(x.shape)


class HadamardLinear(nn.Linear):
    """An ``nn.Linear`` that reads ``x H`` (:func:`hadamard_transform`): ``down_proj`` after ``online_down_proj``
    rotation, in full precision (before quantization, or kept out of it by ``modules_to_not_convert``)."""

    input_hadamard = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(hadamard_transform(x))

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> HadamardLinear:
        with torch.device("meta"):
            out = cls(linear.in_features, linear.out_features, linear.bias is not None)
        out.weight = linear.weight
        out.bias = linear.bias
        return out


def linear_input(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``module``'s weight multiplies when it is called on ``x`` (the transformed input of a Hadamard one)."""
    return hadamard_transform(x) if getattr(module, "input_hadamard", False) else x


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


def online_targets(model: Any) -> list[tuple[Any, str, Any]]:
    """``(parent, attribute, module)`` of every decoder layer's ``down_proj``: where the online Hadamard goes."""
    return [(layer.mlp, "down_proj", layer.mlp.down_proj) for layer in decoder_parts(model)[1]]


@torch.no_grad()
def rotate_model(model: Any, kind: str = "hadamard", seed: int = 0, *, online_down_proj: bool = False) -> None:
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
    online = online_targets(model) if online_down_proj else []
    for _, _, down in online:
        if not isinstance(down, nn.Linear) or isinstance(down, HadamardLinear):
            raise ValueError(f"online_down_proj needs plain nn.Linear down_proj layers, got {type(down).__name__}")
        try:
            hadamard(down.in_features)
        except ValueError as exc:
            raise ValueError(
                f"online_down_proj: no Hadamard matrix of order {down.in_features} (intermediate size) is built "
                "here; set RSQConfig(online_hadamard=False)"
            ) from exc
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
    for parent, attr, down in online:
        _rotate_in(down, hadamard(down.in_features))  # W H, read by x H at run time
        setattr(parent, attr, HadamardLinear.from_linear(down))
