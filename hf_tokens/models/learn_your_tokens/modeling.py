"""Learn Your Tokens: word-pooled byte LM (Thawani, Ghanekar, Zhu & Pujara, arXiv:2310.11628).

Bytes are cut into words (:mod:`hf_tokens.models.byte_words`); each word's bytes, preceded by ``num_cls`` learned
[CLS] vectors, go through a small bidirectional encoder that sees only that word (the paper's word-boundary pooling);
the [CLS] outputs, concatenated, are the word's vector. A causal word-level backbone reads the word vectors, and a
small causal byte decoder, started from the backbone output, decodes every word's bytes; all words are decoded in
parallel during training.

Deviations (named): words end after whitespace (the space is the end of a word, not the start of the next) and are
cut at ``max_word_bytes``; learned absolute positions in every stack; the decoder reads its own byte embeddings.
No cache: ``generate`` reruns the full sequence each step.
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
    cut_words,
)


class LearnYourTokensConfig(ByteWordsConfig):
    """Config of the word-pooled byte LM of "Learn Your Tokens" (arXiv:2310.11628)."""

    model_type = "hf_tokens_learn_your_tokens"
    extra_sizes = ("num_cls",)  # type: ignore[assignment]

    def __init__(self, num_cls: int = 4, **kwargs: Any) -> None:
        self.num_cls = num_cls
        super().__init__(**kwargs)


class _Core(HierarchicalCore):
    def __init__(self, config: LearnYourTokensConfig) -> None:
        super().__init__(config)
        self.num_cls = config.num_cls
        self.embed = nn.Embedding(256, config.byte_dim)
        self.cls = nn.Parameter(torch.zeros(config.num_cls, config.byte_dim))
        self.encoder = Stack(
            config.byte_dim, config.heads, config.encoder_layers, config.max_word_bytes + config.num_cls
        )
        self.pool = nn.Linear(config.num_cls * config.byte_dim, config.word_dim)
        self.decoder_embed = nn.Embedding(256, config.byte_dim)

    def encode_words(self, batch: WordBatch) -> tuple[torch.Tensor, None]:
        B, W, L = batch.bytes.shape
        x = self.embed(batch.bytes).flatten(0, 1)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        mask = causal_mask(batch.lengths.flatten(), self.num_cls + L, causal=False, prefix=self.num_cls)
        pooled = self.encoder(x, mask)[:, : self.num_cls].reshape(B, W, -1)
        return self.pool(pooled), None

    def decoder_bytes(self, words: torch.Tensor, states: torch.Tensor | None) -> torch.Tensor:
        return self.decoder_embed(words)

    def word_vectors(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The pooled vector of every word of one row (the backbone's input), ``[W, word_dim]``."""
        return self.encode_words(cut_words(input_ids[None], self.max_word_bytes))[0][0]


class LearnYourTokensForCausalLM(ByteWordsLM):
    """Next-byte LM over raw bytes (ids 0..255) with word-pooled byte encoding (arXiv:2310.11628)."""

    config_class = LearnYourTokensConfig
    core_cls = _Core


AutoConfig.register(LearnYourTokensConfig.model_type, LearnYourTokensConfig, exist_ok=True)
AutoModelForCausalLM.register(LearnYourTokensConfig, LearnYourTokensForCausalLM, exist_ok=True)


def contract() -> dict[str, Any]:
    from hf_tokens.models.byte_words_contract import make_contract

    return make_contract(LearnYourTokensConfig, LearnYourTokensForCausalLM, num_cls=2)
