"""Contract of every tokenizer converter: a conversion onto the same tokenizer changes nothing."""

from __future__ import annotations

import copy

import pytest
import torch

from hf_tokens.testing import tiny_model, tiny_tokenizer
from tests.suites._common import contract_of, implemented

SPECS = implemented("tokenizers")


@pytest.mark.parametrize("spec", SPECS)
def test_same_tokenizer_is_identity(spec):
    contract = contract_of(spec, ("convert",))
    model, tok = tiny_model("llama"), tiny_tokenizer()
    before = copy.deepcopy(model.state_dict())
    new_model, new_tok = contract["convert"](model, tok, copy.deepcopy(tok))
    ids = torch.tensor([tok("Hello world! def main():").input_ids])
    with torch.no_grad():
        torch.testing.assert_close(new_model(ids).logits, model(ids).logits, rtol=0, atol=0)
    assert new_tok("Hello world!").input_ids == tok("Hello world!").input_ids
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), f"convert modified the input model ({name})"
