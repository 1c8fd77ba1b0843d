"""Hierarchical autoregressive transformer, HAT (Neitemeier et al., arXiv:2501.10322).

A character (byte) encoder turns each word into a word embedding, a causal word-level backbone predicts the next word's
embedding, and a character decoder, started from that prediction, decodes the next word byte by byte. The decoder
reads the encoder's per-byte states of the word being decoded, so encoder and decoder share the byte-level work.

Deviations (named): the encoder is causal within a word (so its byte states can feed the decoder during generation)
and the word embedding is its state at the word's last byte (HAT appends a dedicated token); words end after
whitespace or at ``max_word_bytes``; learned absolute positions; no cache (``generate`` reruns the full sequence).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM

from hf_tokens.models.byte_words import (
    ByteWordsConfig,
    ByteWordsLM,
    HierarchicalCore,
    Stack,
    WordBatch,
    causal_mask,
)


class HierarchicalARConfig(ByteWordsConfig):
    """Config of the hierarchical autoregressive transformer (HAT, arXiv:2501.10322)."""

    model_type = "hf_tokens_hierarchical_ar"

    def __init__(self, **kwargs: Any) -> None:  # explicit: transformers would generate a dataclass __init__
        super().__init__(**kwargs)


class _Core(HierarchicalCore):
    def __init__(self, config: HierarchicalARConfig) -> None:
        super().__init__(config)
        self.embed = nn.Embedding(256, config.byte_dim)
        self.encoder = Stack(config.byte_dim, config.heads, config.encoder_layers, config.max_word_bytes)
        self.to_word = nn.Linear(config.byte_dim, config.word_dim)
        self.states_to_decoder = nn.Linear(config.byte_dim, config.byte_dim)

    def encode_words(self, batch: WordBatch) -> tuple[torch.Tensor, torch.Tensor]:
        B, W, L = batch.bytes.shape
        lengths = batch.lengths.flatten()
        states = self.encoder(self.embed(batch.bytes).flatten(0, 1), causal_mask(lengths, L))
        last = states[torch.arange(states.shape[0]), (lengths - 1).clamp_min(0)]
        return self.to_word(last).view(B, W, -1), states.view(B, W, L, -1)

    def decoder_bytes(self, words: torch.Tensor, states: torch.Tensor | None) -> torch.Tensor:
        assert states is not None
        return self.states_to_decoder(states)


class HierarchicalARForCausalLM(ByteWordsLM):
    """Next-byte LM over raw bytes (ids 0..255): byte encoder, word backbone, byte decoder (arXiv:2501.10322)."""

    config_class = HierarchicalARConfig
    core_cls = _Core


AutoConfig.register(HierarchicalARConfig.model_type, HierarchicalARConfig, exist_ok=True)
AutoModelForCausalLM.register(HierarchicalARConfig, HierarchicalARForCausalLM, exist_ok=True)


def contract() -> dict[str, Any]:
    from hf_tokens.models.byte_words_contract import make_contract

    return make_contract(HierarchicalARConfig, HierarchicalARForCausalLM)
