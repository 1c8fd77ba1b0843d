"""Integer grids and bit packing of quantized weights (pure PyTorch; the oracle of the Triton kernel).

A weight ``W [N, K]`` is stored as

* ``qweight`` int32 ``[N, ceil(K / per)]``: the unsigned codes ``q in [0, 2**bits)``, ``per = 32 // bits`` codes a
  word, code ``k`` in word ``k // per`` at bit ``(k % per) * bits`` (3-bit codes: 10 a word, 2 bits unused);
* ``scales`` float ``[N, G]`` and ``qzeros`` uint8 ``[N, G]``, one pair per group of ``group_size`` input columns
  (``G = 1`` per channel), so that ``W[n, k] ~= (q[n, k] - zero[n, g]) * scale[n, g]`` with ``g = k // group_size``.
"""

from __future__ import annotations

import torch


def per_word(bits: int) -> int:
    return 32 // bits


def packed_columns(in_features: int, bits: int) -> int:
    return -(-in_features // per_word(bits))


def num_groups(in_features: int, group_size: int) -> int:
    return 1 if group_size == -1 else -(-in_features // group_size)


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned codes ``[N, K]`` (each in ``[0, 2**bits)``) packed into int32 words ``[N, ceil(K / (32 // bits))]``."""
    if codes.dim() != 2:
        raise ValueError(f"codes must be [N, K], got shape {tuple(codes.shape)}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= 2**bits):
        raise ValueError(f"codes must lie in [0, {2**bits}) for bits={bits}")
    n, k = codes.shape
    per = per_word(bits)
    words = packed_columns(k, bits)
    padded = torch.zeros(n, words * per, dtype=torch.int64, device=codes.device)
    padded[:, :k] = codes.to(torch.int64)
    shifts = torch.arange(per, device=codes.device, dtype=torch.int64) * bits
    packed = (padded.view(n, words, per) << shifts).sum(dim=-1)  # < 2**32, exact in int64
    packed = torch.where(packed >= 2**31, packed - 2**32, packed)  # the same 32 bits as a signed int32
    return packed.to(torch.int32)


def unpack(packed: torch.Tensor, bits: int, in_features: int) -> torch.Tensor:
    """The codes ``[N, in_features]`` (int32) of :func:`pack`'s words."""
    per = per_word(bits)
    shifts = torch.arange(per, device=packed.device, dtype=torch.int32) * bits
    codes = (packed.unsqueeze(-1) >> shifts) & (2**bits - 1)  # arithmetic shift; the mask drops the sign bits
    return codes.reshape(packed.shape[0], -1)[:, :in_features]


CLIP_NORM, CLIP_GRID, CLIP_MAX_SHRINK = 2.4, 100, 0.8  # GPTQ's / QuaRot's ``mse`` weight-clipping search


def _grid(lo: torch.Tensor, hi: torch.Tensor, bits: int, sym: bool) -> tuple[torch.Tensor, torch.Tensor]:
    maxq = 2**bits - 1
    scale = (hi - lo) / maxq
    zero = torch.full_like(scale, float((maxq + 1) // 2)) if sym else torch.round(-lo / scale)
    return scale, zero


def grid_params(
    weight: torch.Tensor, bits: int, sym: bool, clip_search: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row ``(scale, zero)`` of the grid of ``weight [N, cols]`` (GPTQ's quantizer): asymmetric spans
    ``[min(w, 0), max(w, 0)]`` with an integer zero point; symmetric spans ``[-max|w|, max|w|]`` with the zero at
    the grid's middle ``(2**bits) // 2`` (GPTQ's convention). A constant-zero row gets scale 1.

    ``clip_search`` (GPTQ's and QuaRot's ``mse`` option, the official RSQ runs' ``--w_clip``): the span is shrunk by
    ``p = 1, 0.99, ..., 0.21`` and each row keeps the ``p`` whose rounded weights have the least
    ``sum |q(w) - w|^2.4``; ``p = 1`` is the min-max grid, so the error never exceeds the min-max grid's."""
    lo = weight.min(dim=1).values.clamp(max=0)
    hi = weight.max(dim=1).values.clamp(min=0)
    if sym:
        hi = torch.maximum(lo.abs(), hi)
        lo = -hi
    empty = (lo == 0) & (hi == 0)
    lo = torch.where(empty, torch.full_like(lo, -1.0), lo)
    hi = torch.where(empty, torch.full_like(hi, 1.0), hi)
    scale, zero = _grid(lo, hi, bits, sym)
    if not clip_search:
        return scale, zero

    def error(s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return (dequantize_codes(quantize_codes(weight, s, z, bits), s, z) - weight).abs_().pow_(CLIP_NORM).sum(dim=1)

    best = error(scale, zero)  # shrink 1: the min-max grid
    for i in range(1, int(CLIP_MAX_SHRINK * CLIP_GRID)):
        shrink = 1 - i / CLIP_GRID
        s, z = _grid(lo * shrink, hi * shrink, bits, sym)
        err = error(s, z)
        better = err < best
        best = torch.where(better, err, best)
        scale, zero = torch.where(better, s, scale), torch.where(better, z, zero)
    return scale, zero


def quantize_codes(weight: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, bits: int) -> torch.Tensor:
    """Round-to-nearest codes of ``weight`` (``[N]`` or ``[N, cols]``) on the grid ``scale``/``zero`` (``[N]``)."""
    if weight.dim() == 2:
        scale, zero = scale[:, None], zero[:, None]
    return torch.clamp(torch.round(weight / scale) + zero, 0, 2**bits - 1)


def dequantize_codes(codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    if codes.dim() == 2:
        scale, zero = scale[:, None], zero[:, None]
    return (codes - zero) * scale


def dequantize_weight(
    qweight: torch.Tensor,
    scales: torch.Tensor,
    qzeros: torch.Tensor,
    bits: int,
    group_size: int,
    in_features: int,
) -> torch.Tensor:
    """The float weight ``[N, in_features]`` (dtype of ``scales``) the packed tensors stand for. Scales and zeros
    broadcast over a ``[N, groups, group_size]`` view (no per-column gather), ``(code - zero) * scale``."""
    codes = unpack(qweight, bits, in_features).to(scales.dtype)
    zeros = qzeros.to(scales.dtype)
    if group_size == -1:
        return (codes - zeros) * scales
    rows, groups = scales.shape
    pad = groups * group_size - in_features
    if pad:
        codes = torch.nn.functional.pad(codes, (0, pad))
    weight = (codes.reshape(rows, groups, group_size) - zeros[:, :, None]) * scales[:, :, None]
    return weight.view(rows, -1)[:, :in_features]
