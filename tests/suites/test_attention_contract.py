"""Contract of every attention function: loads by key, respects padding, equals sdpa where it should."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.testing import tiny_model
from tests.suites._common import contract_of, implemented

SPECS = implemented("attention")


@pytest.mark.parametrize("spec", SPECS)
def test_left_padding_is_respected(spec):
    contract = contract_of(spec, ("key", "exact_kwargs"))
    assert contract["key"].startswith("hf_tokens_") and "/" not in contract["key"] and ":" not in contract["key"]
    model = tiny_model("llama", attn_implementation=contract["key"])
    ids = torch.randint(2, model.config.vocab_size, (1, 12), generator=torch.Generator().manual_seed(4))
    padded = torch.cat([torch.full((1, 4), model.config.pad_token_id), ids], dim=1)
    mask = torch.cat([torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 12, dtype=torch.long)], dim=1)
    with torch.no_grad():
        alone = model(ids).logits
        with_pad = model(padded, attention_mask=mask).logits[:, 4:]
    torch.testing.assert_close(with_pad, alone, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spec", SPECS)
def test_equals_sdpa_under_exact_kwargs(spec):
    contract = contract_of(spec, ("key", "exact_kwargs"))
    if contract["exact_kwargs"] is None:
        pytest.skip(f"{spec.id} has no setting under which it equals softmax attention")
    ours = tiny_model("llama", attn_implementation=contract["key"], **contract["exact_kwargs"])
    ref = tiny_model("llama", **contract["exact_kwargs"])
    ids = torch.randint(2, ref.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, ref(ids).logits, rtol=1e-5, atol=1e-5)
