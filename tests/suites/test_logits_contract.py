"""Contract of every logits processor: shapes kept, scores finite or -inf, usable inside generate."""

from __future__ import annotations

import pytest
import torch
from transformers import LogitsProcessorList

from hf_tokens.testing import tiny_model, tiny_tokenizer
from tests.suites._common import contract_of, implemented

SPECS = implemented("logits")


@pytest.mark.parametrize("spec", SPECS)
def test_processor_keeps_shape_and_runs_in_generate(spec):
    contract = contract_of(spec, ("processor",))
    model, tok = tiny_model("llama"), tiny_tokenizer()
    proc = contract["processor"](model, tok)
    ids = torch.tensor([tok("def main():").input_ids])
    scores = torch.randn(1, model.config.vocab_size)
    out = proc(ids, scores.clone())
    assert out.shape == scores.shape
    assert not torch.isnan(out).any() and not torch.isposinf(out).any()
    gen = model.generate(ids, max_new_tokens=5, do_sample=False, logits_processor=LogitsProcessorList([proc]))
    assert gen.shape[1] <= ids.shape[1] + 5
