"""MEGABYTE (Yu et al. 2023, arXiv:2305.07185) as the peer arm of benchmarks/token_free.py, from the
``megabyte-pytorch`` package (0.3.6, lucidrains' implementation; the paper's own code is not released).

MEGABYTE cuts the byte stream into fixed patches of ``patch_size`` bytes: a global transformer runs over patch
embeddings (the concatenated byte embeddings of each patch, projected), and a small local transformer predicts the
bytes of each patch from the global output of the patches before it plus the patch's earlier bytes. It is the
fixed-length-patch counterpart of the word-segmented hierarchical arms (learn-your-tokens, hierarchical-ar).

:class:`MegabyteLM` wraps the package's ``MEGABYTE`` module in the interface the experiment's loop expects of every
arm (``forward(input_ids, labels=None)`` returning ``.logits`` [B, T, 256] where position ``t`` predicts byte
``t + 1``, and a greedy ``generate``), so it is trained and scored by the same code, on the same windows, as the
other arms. Deviations from the paper, all named:

- the package's transformer blocks, not the paper's: RMSNorm pre-norm, RWKV-style token shift in every block, no
  biases in attention; learned absolute positions per stage (``pos_emb=True``, as in the paper; the package's default
  has none) and PyTorch's scaled-dot-product attention (``flash_attn=True``, which on CPU is plain SDPA);
- the package's patch embedder: the patch's concatenated byte embeddings are projected (between LayerNorms) to the
  global width, where the paper's global model is ``patch_size`` x the byte width wide; each stage starts from a
  learned start vector where the paper pads with a padding patch / byte;
- the loss is the experiment's shared next-byte cross-entropy over ``logits`` (the package's ``return_loss`` also
  scores the first byte from the start token and ignores byte 0 as padding; the other arms do neither);
- the package has no key/value cache, so ``generate`` re-runs the whole model for every new byte, as the package's
  own sampler does (the paper's generation speed-up comes from running the global model once per patch with
  caching; the bytes/s of this arm is therefore a lower bound of what MEGABYTE can do);
- a context longer than ``max_len`` bytes keeps its last ``max_len`` bytes (patch boundaries move with it).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


class MegabyteLM(torch.nn.Module):
    """A byte-level MEGABYTE with a global and a local stage.

    ``dims``/``depths``: (global, local) widths and layer counts; ``patch_size``: bytes per patch;
    ``max_len``: the longest context in bytes (a multiple of ``patch_size``).
    """

    def __init__(
        self,
        *,
        dims: tuple[int, int] = (96, 64),
        depths: tuple[int, int] = (2, 1),
        patch_size: int = 8,
        max_len: int = 256,
        heads: int = 4,
        dim_head: int = 16,
    ) -> None:
        super().__init__()
        for name, pair in (("dims", dims), ("depths", depths)):
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(v, int) and v > 0 for v in pair)):
                raise ValueError(f"{name} must be a (global, local) pair of positive ints, got {pair!r}")
        for name, value in (("patch_size", patch_size), ("heads", heads), ("dim_head", dim_head)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(max_len, int) or max_len < patch_size or max_len % patch_size:
            raise ValueError(f"max_len must be a positive multiple of patch_size={patch_size}, got {max_len!r}")
        from MEGABYTE_pytorch import MEGABYTE

        self.patch_size, self.max_len = patch_size, max_len
        self.core = MEGABYTE(
            num_tokens=256,
            dim=dims,
            depth=depths,
            max_seq_len=(max_len // patch_size, patch_size),
            dim_head=dim_head,
            heads=heads,
            pos_emb=True,
            flash_attn=True,
        )

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None, **_: Any) -> Any:
        from transformers.modeling_outputs import CausalLMOutput

        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.is_floating_point():
            raise TypeError("input_ids must be a [batch, length] integer tensor of bytes")
        if input_ids.shape[1] > self.max_len:
            raise ValueError(f"input_ids holds {input_ids.shape[1]} bytes, more than max_len={self.max_len}")
        if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) > 255):
            raise ValueError("input_ids must be bytes (0..255)")
        logits = self.core(input_ids.long())
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, 256).float(), labels[:, 1:].reshape(-1).long())
        return CausalLMOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, max_new_tokens: int = 32, do_sample: bool = False) -> torch.Tensor:
        """Greedy decoding of ``max_new_tokens`` bytes; returns the prompt followed by them."""
        if do_sample:
            raise ValueError("MegabyteLM.generate is greedy only: do_sample must be False")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        seq = input_ids.long()
        for _ in range(max_new_tokens):
            logits = self.forward(seq[:, -self.max_len :]).logits
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], 1)
        return seq
