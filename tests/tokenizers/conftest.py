"""Fixtures of the tokenizer-transplant tests: a second tiny tokenizer with a different vocabulary, a fake encoder."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from hf_tokens.tokenizers.tokenadapt.auxiliary import AuxEncoder
from hf_tokens.tokenizers.train import BPETrainingConfig, train_bpe

OTHER_TEXT = [
    "Transplanting a tokenizer keeps the shared tokens and initialises the others. " * 3,
    "The lazy dog sleeps while the quick brown fox jumps; models read tokens and write them. " * 3,
    "def transplant(model, tokenizer):\n    return model, tokenizer\n" * 3,
]


@pytest.fixture(scope="session")
def other_tokenizer():
    """A byte-level BPE (vocab 330) trained on other text: many tokens shared with the tiny one, some new."""
    config = BPETrainingConfig(
        vocab_size=330,
        special_tokens=("<|endoftext|>", "<|pad|>", "<|sep|>"),
        bos_token=None,
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        unk_token=None,
        min_frequency=1,
    )
    return train_bpe(OTHER_TEXT, config)


class FakeEncoder(AuxEncoder):
    """Stands in for the auxiliary sentence encoder: deterministic unit vectors from a string hash."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__("fake", SimpleNamespace(config=SimpleNamespace(hidden_size=dim)), None, cache=False)
        self.dim = dim
        self.calls = 0

    def embed(self, strings, *, desc: str = "") -> torch.Tensor:
        self.calls += 1
        out = torch.empty(len(strings), self.dim)
        for i, s in enumerate(strings):
            gen = torch.Generator().manual_seed(sum((j + 1) * ord(c) for j, c in enumerate(s.strip().lower())) + 7)
            out[i] = torch.randn(self.dim, generator=gen)
        return torch.nn.functional.normalize(out, dim=-1)


@pytest.fixture
def fake_encoder():
    return FakeEncoder()
