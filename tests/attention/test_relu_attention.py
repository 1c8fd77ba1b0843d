"""ReLU attention (hf_tokens_relu, the active-dormant paper's sink mitigation): the attention contract's checks, the
paper's weights (ReLU of the scores over the row's length), and rows that may attend to nothing."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.attention.relu import relu_attention_weights
from hf_tokens.attention.relu.attention import contract
from tests.suites.test_attention_contract import CHECKS

NO_KERNEL = ("kernel", "kernel_bf16")  # a PyTorch function only


@pytest.mark.parametrize("check", [c for c in CHECKS if c not in NO_KERNEL])
def test_passes_the_attention_contract(check):
    CHECKS[check](contract())


def test_weights_are_relu_scores_over_the_visible_keys():
    scores = torch.tensor([[[[2.0, -1.0, 0.0], [0.5, 1.5, -3.0], [1.0, 1.0, 1.0]]]])
    causal = torch.tril(torch.ones(3, 3, dtype=torch.bool))[None, None]
    w = relu_attention_weights(scores, causal)
    expected = torch.tensor([[2.0, 0.0, 0.0], [0.25, 0.75, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    torch.testing.assert_close(w[0, 0], expected)


def test_a_row_may_attend_to_nothing_without_a_sink():
    scores = -torch.rand(1, 2, 4, 4) - 0.1  # every score negative
    w = relu_attention_weights(scores, None)
    assert torch.equal(w, torch.zeros_like(w))  # softmax would have to put its whole unit mass somewhere
    assert torch.allclose(relu_attention_weights(scores, None, "softmax").sum(-1), torch.ones(1, 2, 4))


def test_bad_phi_and_missing_config_are_refused():
    with pytest.raises(ValueError, match="phi must be one of"):
        relu_attention_weights(torch.zeros(1, 1, 2, 2), None, "tanh")
    from hf_tokens.attention.relu import relu_attention

    q = torch.zeros(1, 1, 2, 4)
    with pytest.raises(TypeError, match=r"reads its settings from the attention module's \.config"):
        relu_attention(torch.nn.Module(), q, q, q, None)
