"""A byte-level LM refuses a tokenizer that does not belong to its model (issue 15, section 6), and shares the
tokenizer-only canonicality checker between models that do share one."""

from __future__ import annotations

import json
import random

import pytest

from hf_tokens.generation.byte_level import ByteLevelLM
from hf_tokens.generation.byte_level.matching import MAX_SURPRISE_GAP, surprise_gap
from hf_tokens.testing import tiny_model, tiny_tokenizer


def _permuted(tok):
    """``tok`` with its text tokens' ids shuffled: the same size, the same special ids, another vocabulary."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(tok.backend_tokenizer.to_str())
    special = set(tok.all_special_ids) | set(tok.get_added_vocab().values())
    vocab = spec["model"]["vocab"]
    movable = sorted(i for i in vocab.values() if i not in special)
    shuffled = list(movable)
    random.Random(0).shuffle(shuffled)
    remap = dict(zip(movable, shuffled))
    spec["model"]["vocab"] = {t: remap.get(i, i) for t, i in vocab.items()}
    backend = Tokenizer.from_str(json.dumps(spec))
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=tok.eos_token, pad_token=tok.pad_token)


def test_tiny_output_layer_much_larger_than_the_tokenizer_is_refused():
    tok = tiny_tokenizer()
    ByteLevelLM(tiny_model("llama", vocab_size=len(tok) + 64), tok)  # padding rows are allowed
    with pytest.raises(ValueError, match=r"tokenizer does not match the model: .* output rows"):
        ByteLevelLM(tiny_model("llama", vocab_size=4 * len(tok)), tok)
    ByteLevelLM(tiny_model("llama", vocab_size=4 * len(tok)), tok, check_tokenizer=False)  # the explicit opt-out


def test_tokenizer_with_ids_past_the_output_layer_is_refused():
    tok = tiny_tokenizer()
    with pytest.raises(ValueError, match="tokenizer does not match the model: it has token ids up to"):
        ByteLevelLM(tiny_model("llama", vocab_size=len(tok) // 2), tok, check_tokenizer=True)


@pytest.mark.parametrize(
    "name,reason",
    [("gpt2", "token ids up to 50255, the model's output layer only 49152"), ("mistral", "49152 output rows")],
)
def test_smollm2_with_another_models_tokenizer_is_refused(smollm2, real_tokenizer, name, reason):
    """GPT-2's tokenizer used to fail deep in torch, Mistral's (same eos id) to give a wrong distribution."""
    model, _ = smollm2
    with pytest.raises(ValueError, match=f"tokenizer does not match the model: .*{reason}") as info:
        ByteLevelLM(model, real_tokenizer(name))
    assert "\n" not in str(info.value)


def test_same_size_same_special_ids_other_vocabulary_is_refused_by_calibration(smollm2):
    """Sizes and special ids cannot tell a permuted vocabulary apart; the model's surprise can."""
    model, tok = smollm2
    other = _permuted(tok)
    assert len(other) == len(tok) and other.eos_token_id == tok.eos_token_id
    own = ByteLevelLM(model, tok)
    nll, entropy = surprise_gap(model, own.vocab, own.start_ids)
    assert nll - entropy < 1.0  # the model's own tokenizer: calibrated
    with pytest.raises(ValueError, match=r"loss is \d+\.\d nats/token against the \d+\.\d its own predictions"):
        ByteLevelLM(model, other)
    bad = ByteLevelLM(model, other, check_tokenizer=False)
    nll, entropy = surprise_gap(model, bad.vocab, bad.start_ids)
    assert nll - entropy > 2 * MAX_SURPRISE_GAP


def test_two_models_on_one_tokenizer_share_the_checker():
    tok = tiny_tokenizer()
    a, b = ByteLevelLM(tiny_model("llama", seed=1), tok), ByteLevelLM(tiny_model("qwen2", seed=2), tok)
    assert a.checker is b.checker and a.vocab is b.vocab
    again = ByteLevelLM(tiny_model("llama"), tiny_tokenizer())  # another object with the same content
    assert again.checker is a.checker
    assert ByteLevelLM(tiny_model("llama"), tok, shared_checker=False).checker is not a.checker
    assert ByteLevelLM(tiny_model("llama"), tok, use_shortcut=False).checker is not a.checker
    # the memo is tokenizer-only: b reuses what a decided, and both give their own model's distribution
    a.next_byte_distribution("def ma")
    checks = a.validity_checks
    b.next_byte_distribution("def ma")
    assert b.validity_checks == checks
    private = ByteLevelLM(tiny_model("qwen2", seed=2), tok, shared_checker=False)
    assert (private.next_byte_distribution("def ma") - b.next_byte_distribution("def ma")).abs().max() < 1e-9
    # trust mode keeps its (model-dependent) marks out of the shared memo
    trust = ByteLevelLM(tiny_model("llama", seed=3), tok, validity_tail=1.0)
    trust.next_byte_distribution("for i in")
    assert (
        ByteLevelLM(tiny_model("llama", seed=3), tok, shared_checker=False).next_byte_distribution("for i in")
        - ByteLevelLM(tiny_model("llama", seed=3), tok).next_byte_distribution("for i in")
    ).abs().max() < 1e-9
