"""The byte-level LM's forward machinery: tree forwards over a shared KV cache, speculative prefetch, lazy validity."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.generation.byte_level import ByteLevelLM
from hf_tokens.generation.byte_level.decoding import greedy_byte
from hf_tokens.generation.byte_level.scorer import PrefixScorer
from hf_tokens.testing import tiny_model, tiny_tokenizer


def _reference(model, seq):
    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([list(seq)])).logits[0, -1].float(), -1)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_tree_forward_equals_a_plain_forward_per_sequence(arch):
    """Sequences of different lengths sharing prefixes, over calls that grow, crop and replace the cached prefix."""
    model = tiny_model(arch, seed=11)
    scorer = PrefixScorer(model, batch_size=4)
    base = tuple(range(5, 25))
    calls = [
        [base, (*base, 30), (*base, 31, 32), (*base[:-3], 40), (*base[:-3], 41)],  # > batch_size: two forwards
        [(*base, 30, 33), (*base, 30, 34, 35)],  # extends the cached trunk
        [(*base[:7], 50, 51)],  # crops it
        [(7, 8, 9)],  # nothing shared: a fresh cache
        [(*base, 31, 32)],  # memoised
    ]
    for seqs in calls:
        for seq, got in zip(seqs, scorer.logprobs(seqs)):
            assert torch.allclose(got, _reference(model, seq), atol=1e-5), (arch, seq)
    assert scorer.forward_calls == 5


def test_prefetched_sequences_are_scored_in_the_same_forward_and_memoised():
    model = tiny_model("llama", seed=12)
    scorer = PrefixScorer(model)
    seq = tuple(range(3, 13))
    guesses = [(*seq, 20), (*seq, 21, 22)]
    asked = []

    def prefetch():
        asked.append(True)
        return guesses

    scorer.logprobs([seq], prefetch=prefetch)
    assert scorer.forward_calls == 1 and asked == [True]
    got = scorer.logprobs(guesses, prefetch=prefetch)  # a full hit: no forward, no guessing
    assert scorer.forward_calls == 1 and asked == [True]
    for g, lp in zip(guesses, got):
        assert torch.allclose(lp, _reference(model, g), atol=1e-5)


def test_speculation_and_lazy_validity_change_cost_not_results():
    """The same greedy bytes and distributions with and without speculation; with it, fewer forwards."""
    tok = tiny_tokenizer()
    model = tiny_model("llama", seed=13)
    fast = ByteLevelLM(model, tok, shared_checker=False)
    slow = ByteLevelLM(model, tok, shared_checker=False, speculate=0)
    states = [fast.start("def ma"), slow.start("def ma")]
    for _ in range(12):
        picks = [greedy_byte(lm, st) for lm, st in zip((fast, slow), states)]
        assert picks[0] == picks[1]
        if picks[0] == 256:
            break
        states = [lm.advance(st, picks[0]) for lm, st in zip((fast, slow), states)]
    assert torch.allclose(fast.distribution(states[0]), slow.distribution(states[1]), atol=1e-6)
    assert fast.scorer.forward_calls < slow.scorer.forward_calls


def test_pending_covers_are_decided_only_when_needed():
    """After a space, the many candidates that start with it are kept undecided; the full distribution decides
    them and matches a fresh start."""
    tok = tiny_tokenizer()
    lm = ByteLevelLM(tiny_model("qwen2", seed=14), tok, shared_checker=False)
    state = lm.advance(lm.start("for i in"), ord(" "))
    assert any(g.pending is not None and g.pending.any() for g in state.groups)
    before = lm.validity_checks
    dist = lm.distribution(state)
    assert lm.validity_checks > before
    assert all(g.pending is None for g in state.groups)
    fresh = ByteLevelLM(tiny_model("qwen2", seed=14), tok, shared_checker=False).next_byte_distribution("for i in ")
    assert torch.allclose(dist, fresh, atol=1e-6)
