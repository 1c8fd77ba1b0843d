"""Shared machinery of the byte/word hierarchical models (``learn-your-tokens``, ``hierarchical-ar``): word
segmentation of byte ids, small pre-norm transformer stacks with explicit masks, and the encoder -> word backbone ->
per-word byte decoder forward that both models specialise.

Words: a word ends after a whitespace byte (space, tab, newline, CR) or when it reaches ``max_word_bytes`` bytes, so
the whitespace belongs to the end of the word before it (as in HAT) and a word's completion is known from its own
bytes. Next-byte logits at byte ``t`` come from the decoder of the word that byte ``t + 1`` belongs to:

- inside a word ``i`` (or at the end of a word that is not complete yet), decoder row ``i`` at offset ``j + 1``,
  conditioned on the backbone output for words ``< i`` and on word ``i``'s bytes ``<= j``;
- at the last byte of a complete word ``i``, decoder row ``i + 1`` at offset 0, conditioned on the backbone output
  for words ``<= i`` only.

So every logit depends on bytes ``<= t`` only (the tests check it) and every word's bytes are decoded in parallel with
the other words' during training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

WHITESPACE = (9, 10, 13, 32)


def segment(ids: list[int], max_word_bytes: int) -> tuple[list[tuple[int, int]], bool]:
    """``([(start, end), ...], last_complete)``: the words of one row of byte ids and whether the last word ended."""
    words, start = [], 0
    for t, b in enumerate(ids):
        if b in WHITESPACE or t + 1 - start >= max_word_bytes:
            words.append((start, t + 1))
            start = t + 1
    if start < len(ids):
        words.append((start, len(ids)))
        return words, False
    return words, True


@dataclass
class WordBatch:
    """A batch cut into words: ``bytes[B, W, L]`` (pad 0), ``lengths[B, W]`` (0 for padding words) and, per byte
    position ``(b, t)``, which decoder row and offset give its next-byte logits."""

    bytes: torch.Tensor
    lengths: torch.Tensor
    row: torch.Tensor  # [B, T]: decoder row (word index, possibly W_b = "the next word")
    offset: torch.Tensor  # [B, T]


def cut_words(input_ids: torch.Tensor, max_word_bytes: int) -> WordBatch:
    rows = [segment(r, max_word_bytes) for r in input_ids.tolist()]
    n_words = max(1, max(len(w) for w, _ in rows))
    width = max(1, max((e - s for w, _ in rows for s, e in w), default=1))
    B, T = input_ids.shape
    words = torch.zeros(B, n_words, width, dtype=torch.long)
    lengths = torch.zeros(B, n_words, dtype=torch.long)
    row = torch.zeros(B, T, dtype=torch.long)
    offset = torch.zeros(B, T, dtype=torch.long)
    for b, (segs, last_complete) in enumerate(rows):
        for i, (s, e) in enumerate(segs):
            words[b, i, : e - s] = input_ids[b, s:e]
            lengths[b, i] = e - s
            complete = i < len(segs) - 1 or last_complete
            row[b, s:e] = i
            offset[b, s:e] = torch.arange(1, e - s + 1)
            if complete:  # the word's last byte is predicted-from by the next word's decoder, at offset 0
                row[b, e - 1], offset[b, e - 1] = i + 1, 0
    return WordBatch(words, lengths, row, offset)


class Block(nn.Module):
    """Pre-norm transformer block; ``mask`` is boolean ``[N, T, T]`` (True = may attend)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None])
        x = x + self.proj(a.transpose(1, 2).reshape(n, t, d))
        return x + self.mlp(self.norm2(x))


class Stack(nn.Module):
    """Learned absolute positions, ``layers`` blocks and a final LayerNorm."""

    def __init__(self, dim: int, heads: int, layers: int, max_len: int) -> None:
        super().__init__()
        self.pos = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.pos.num_embeddings:
            raise ValueError(f"sequence of {x.shape[1]} exceeds this stack's {self.pos.num_embeddings} positions")
        x = x + self.pos.weight[: x.shape[1]]
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)


def causal_mask(lengths: torch.Tensor, width: int, *, causal: bool = True, prefix: int = 0) -> torch.Tensor:
    """``[N, width, width]`` mask over sequences of ``prefix`` always-valid positions then ``lengths`` real ones:
    real keys only (causal or not), and every query sees at least itself (padding rows stay finite)."""
    pos = torch.arange(width)
    valid = pos[None, :] < (lengths[:, None] + prefix)
    mask = valid[:, None, :].expand(-1, width, -1)
    if causal:
        mask = mask & (pos[None, :, None] >= pos[None, None, :])
    return mask | torch.eye(width, dtype=torch.bool)[None]


def init_weights(module: nn.Module, std: float) -> None:
    """The models' initialisation: normal(0, std) linears/embeddings, unit LayerNorms."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def check_input(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, vocab: int = 256) -> None:
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise TypeError("input_ids must be a [batch, length] tensor of byte ids")
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab):
        raise ValueError(f"input_ids must be byte ids in [0, {vocab})")
    if attention_mask is not None and not bool(attention_mask.bool().all()):
        raise ValueError("attention_mask with padding is not supported: these byte models take unpadded rows")


def gather_logits(decoded: torch.Tensor, batch: WordBatch) -> torch.Tensor:
    """``decoded[B, W + 1, 1 + L, V]`` (decoder rows x offsets) -> next-byte logits ``[B, T, V]``."""
    b = torch.arange(decoded.shape[0])[:, None]
    return decoded[b, batch.row, batch.offset]


def scaled_std(dim: int) -> float:
    return 1 / math.sqrt(dim) * 0.5


class HierarchicalCore(nn.Module):
    """Encoder -> causal word backbone -> per-word byte decoder. Subclasses define how bytes become a word vector
    (:meth:`encode_words`) and what the decoder reads after the context vector (:meth:`decoder_bytes`)."""

    def __init__(self, config) -> None:
        super().__init__()
        c = config
        self.max_word_bytes = c.max_word_bytes
        self.word_bos = nn.Parameter(torch.zeros(1, 1, c.word_dim))
        self.backbone = Stack(c.word_dim, c.heads, c.backbone_layers, c.max_words + 1)
        self.to_decoder = nn.Linear(c.word_dim, c.byte_dim)
        self.decoder = Stack(c.byte_dim, c.heads, c.decoder_layers, c.max_word_bytes + 1)
        self.lm_head = nn.Linear(c.byte_dim, 256)

    def encode_words(self, batch: WordBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(word vectors [B, W, word_dim], per-byte states [B, W, L, byte_dim] or None)``."""
        raise NotImplementedError

    def decoder_bytes(self, words: torch.Tensor, states: torch.Tensor | None) -> torch.Tensor:
        """Decoder inputs for the bytes of each decoder row: ``[B, W + 1, L, byte_dim]``."""
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        batch = cut_words(input_ids, self.max_word_bytes)
        B, W, L = batch.bytes.shape
        if self.backbone.pos.num_embeddings < W + 1:
            raise ValueError(f"the input has {W} words, more than max_words={self.backbone.pos.num_embeddings - 1}")
        vectors, states = self.encode_words(batch)
        n_words = (batch.lengths > 0).sum(1)
        seq = torch.cat([self.word_bos.expand(B, 1, -1), vectors], dim=1)
        ctx = self.to_decoder(self.backbone(seq, causal_mask(n_words, W + 1, prefix=1)))  # [B, W + 1, D]
        words = torch.cat([batch.bytes, batch.bytes.new_zeros(B, 1, L)], dim=1)
        if states is not None:
            states = torch.cat([states, states.new_zeros(B, 1, L, states.shape[-1])], dim=1)
        lengths = torch.cat([batch.lengths, batch.lengths.new_zeros(B, 1)], dim=1)
        dec_in = torch.cat([ctx[:, :, None], self.decoder_bytes(words, states)], dim=2)  # [B, W + 1, 1 + L, D]
        out = self.decoder(dec_in.flatten(0, 1), causal_mask(lengths.flatten(), L + 1, prefix=1))
        return gather_logits(self.lm_head(out).view(B, W + 1, L + 1, -1), batch)


def validate_sizes(config, names: tuple[str, ...]) -> None:
    """ValueError unless every named config attribute is a positive int and the widths divide into the heads."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    for name in ("byte_dim", "word_dim", "hidden_size"):
        if name in names and getattr(config, name) % config.heads:
            raise ValueError(f"{name} ({getattr(config, name)}) must be a multiple of heads ({config.heads})")


SIZES = ("byte_dim", "word_dim", "heads", "encoder_layers", "backbone_layers", "decoder_layers", "max_word_bytes",
         "max_words")  # fmt: skip


class ByteWordsConfig(PretrainedConfig):
    """Sizes shared by the byte/word models: byte-level width, word-level width, heads, the depth of the byte
    encoder, word backbone and byte decoder, and the longest word / most words per sequence."""

    extra_sizes = ()  # further size attributes a subclass validates (not annotated: no config field)

    def __init__(
        self,
        byte_dim: int = 64,
        word_dim: int = 128,
        heads: int = 4,
        encoder_layers: int = 1,
        backbone_layers: int = 2,
        decoder_layers: int = 1,
        max_word_bytes: int = 16,
        max_words: int = 256,
        **kwargs: Any,
    ) -> None:
        self.byte_dim, self.word_dim, self.heads = byte_dim, word_dim, heads
        self.encoder_layers, self.backbone_layers, self.decoder_layers = (
            encoder_layers,
            backbone_layers,
            decoder_layers,
        )
        self.max_word_bytes, self.max_words = max_word_bytes, max_words
        kwargs.setdefault("vocab_size", 256)
        kwargs.setdefault("use_cache", False)
        super().__init__(**kwargs)
        validate_sizes(self, SIZES + self.extra_sizes)


class FullForwardGenerationMixin:
    """``generate`` for models without a cache: every step runs the full sequence (what greedy decoding by full
    forwards does, so the two agree exactly)."""

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, **kwargs: object) -> dict[str, object]:
        return {"input_ids": input_ids}

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:  # transformers' hook: no cache object for this model
        return False


class ByteWordsLM(FullForwardGenerationMixin, PreTrainedModel, GenerationMixin):
    """Base of the byte/word models: next-byte logits ``[B, T, 256]`` over raw bytes (ids 0..255) from
    ``core_cls(config)``; ``labels`` (the input ids) give the mean next-byte cross-entropy."""

    base_model_prefix = "core"
    main_input_name = "input_ids"
    core_cls: type[HierarchicalCore]

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.core = self.core_cls(config)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        init_weights(module, scaled_std(self.config.byte_dim))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> CausalLMOutput:
        check_input(input_ids, attention_mask)
        logits = self.core(input_ids)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        return CausalLMOutput(loss=loss, logits=logits)
