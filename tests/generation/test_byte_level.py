"""Exactness of the byte-level wrapper (Phan et al., arXiv 2410.09303) on tiny models where brute force is feasible."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hf_tokens.generation.byte_level import ByteLevelConfig, ByteLevelEnsemble, ByteLevelLM
from hf_tokens.generation.byte_level.decoding import greedy_byte
from hf_tokens.generation.byte_level.vocab import utf8_status
from hf_tokens.testing import tiny_model, tiny_tokenizer

TEXTS = ["def main():", "Hello  wor", "for i in", "t\u00e9 0!"]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def lm(tok):
    return ByteLevelLM(tiny_model("llama"), tok)


def _canonical_only(lm: ByteLevelLM) -> None:
    """Make ``lm`` score with the token model restricted to valid (canonical) continuations and renormalised.

    Such a model puts zero mass on token sequences its tokenizer never produces, the setting in which the
    Byte-Token Representation Lemma is an identity. Validity here re-encodes the *whole* text (no anchor), so the
    test also checks that the wrapper's anchored, local re-encoding decides validity the same way.
    """
    vocab, inner = lm.vocab, lm.scorer.logprobs
    start = len(lm.start_ids)

    def masked(seqs, prefetch=None):
        out = []
        for seq, lp in zip(seqs, inner(seqs, prefetch)):
            ctx = list(seq[start:])
            prefix = vocab.decode(ctx)
            keep = torch.zeros(lp.shape[0], dtype=torch.bool)
            keep[vocab.eos_ids] = utf8_status(prefix) == "ok"
            todo = []
            for t in vocab.text_ids.tolist():
                piece = prefix + vocab.token_bytes[t]
                status = utf8_status(piece)
                if status == "partial" and utf8_status(prefix) != "invalid":
                    keep[t] = True
                elif status == "ok":
                    todo.append((t, piece.decode("utf-8")))
            encs = vocab.backend.encode_batch([p for _, p in todo], add_special_tokens=False)
            for (t, _), enc in zip(todo, encs):
                keep[t] = list(enc.ids) == [*ctx, t]
            out.append(torch.log_softmax(lp.masked_fill(~keep, float("-inf")), dim=-1))
        return out

    lm.scorer.logprobs = masked  # type: ignore[method-assign]


def _all_tokenizations(vocab, data: bytes) -> list[list[int]]:
    by_bytes = {}
    for t in vocab.text_ids.tolist():
        by_bytes.setdefault(vocab.token_bytes[t], []).append(t)
    out: list[list[int]] = []

    def walk(pos: int, acc: list[int]) -> None:
        if pos == len(data):
            out.append(list(acc))
            return
        for end in range(pos + 1, min(len(data), pos + vocab.max_token_bytes) + 1):
            for t in by_bytes.get(data[pos:end], ()):
                walk(end, [*acc, t])

    walk(0, [])
    return out


def _brute_force_log_prob(lm: ByteLevelLM, data: bytes) -> float:
    """log sum over *all* tokenizations t of ``data`` of P(t, eos), straight from the token model."""
    terms = []
    for seq in _all_tokenizations(lm.vocab, data):
        full = (*lm.start_ids, *seq)
        prefixes = [full[:k] for k in range(len(lm.start_ids), len(full) + 1)]
        lps = lm.scorer.logprobs(prefixes)
        total = sum(float(lps[j][seq[j]]) for j in range(len(seq)))
        total += float(torch.logsumexp(lps[-1][lm.vocab.eos_ids], 0))
        terms.append(total)
    return float(torch.logsumexp(torch.tensor(terms, dtype=torch.float64), 0))


@pytest.mark.parametrize("text", TEXTS)
def test_string_probability_equals_brute_force_marginal(tok, text):
    lm = ByteLevelLM(tiny_model("llama", seed=1), tok)
    _canonical_only(lm)
    data = text.encode("utf-8")
    assert len(_all_tokenizations(lm.vocab, data)) > 1  # the marginal really sums over several tokenizations
    ours = lm.log_prob(data, end=True)
    brute = _brute_force_log_prob(lm, data)
    assert math.isfinite(brute)
    assert ours == pytest.approx(brute, abs=1e-4)


@pytest.mark.parametrize("text", TEXTS)
def test_prefix_probability_equals_sum_over_cover_encodings(tok, text):
    """P(prefix) from the chain of next-byte conditionals equals the brute-force sum over all cover encodings."""
    lm = ByteLevelLM(tiny_model("qwen2", seed=2), tok)
    _canonical_only(lm)
    data = text.encode("utf-8")
    ours = lm.log_prob(data)  # no end: the probability that the text *starts* with data
    terms = []
    for cut in range(len(data)):  # covers: tokenizations of data[:cut] + one token that starts with data[cut:]
        for seq in _all_tokenizations(lm.vocab, data[:cut]) or ([[]] if cut == 0 else []):
            full = (*lm.start_ids, *seq)
            lps = lm.scorer.logprobs([full[:k] for k in range(len(lm.start_ids), len(full) + 1)])
            head = sum(float(lps[j][seq[j]]) for j in range(len(seq)))
            last = torch.from_numpy(lm.vocab.with_prefix(data[cut:]))
            terms.append(head + float(torch.logsumexp(lps[-1][last], 0)))
    brute = float(torch.logsumexp(torch.tensor(terms, dtype=torch.float64), 0))
    assert ours == pytest.approx(brute, abs=1e-4)


@pytest.mark.parametrize("prefix", ["", "def ma", "Hello  wor", "t\u00e9", "t\u00e9".encode()[:2], "x" * 40])
def test_next_byte_distribution_sums_to_one(lm, prefix):
    dist = lm.next_byte_distribution(prefix)
    assert dist.shape == (257,)
    assert float(dist.sum()) == pytest.approx(1.0, abs=1e-5)
    assert bool((dist >= 0).all())


def test_incomplete_character_forces_its_continuation(lm):
    dist = lm.next_byte_distribution("t\u00e9".encode()[:2])  # b"t\xc3": only continuation bytes are possible
    assert float(dist[0x80:0xC0].sum()) == pytest.approx(1.0, abs=1e-6)
    assert float(dist[256]) == 0.0


def test_stepwise_state_matches_fresh_start(lm):
    state = lm.start("def m")
    for b in b"ain():":
        state = lm.advance(state, b)
    fresh = lm.next_byte_distribution("def main():")
    assert torch.allclose(lm.distribution(state), fresh, atol=1e-6)


def test_validity_tail_is_a_bounded_approximation(tok):
    """Trusting the model for a tail of mass t changes each unnormalised byte mass by at most t * P(cover)."""
    model = tiny_model("llama")
    exact_lm, approx_lm = ByteLevelLM(model, tok), ByteLevelLM(model, tok, validity_tail=1e-3)
    state = exact_lm.start("for i in")
    exact = np.exp(exact_lm._log_masses(state))
    approx = np.exp(approx_lm._log_masses(state))  # same covers; only the validity of the next token differs
    bound = 1e-3 * sum(math.exp(lp) for _, lp in state.exact)
    assert np.abs(approx - exact).sum() <= bound * (1 + 1e-9)
    assert not np.array_equal(approx, exact)  # the tail really was trusted (this random model has invalid mass)


def test_ensemble_with_itself_equals_the_model(lm):
    for mode in ("product", "mixture"):
        ens = ByteLevelEnsemble([lm, lm], mode=mode)
        for prefix in ("", "def ma"):
            assert torch.allclose(ens.next_byte_distribution(prefix), lm.next_byte_distribution(prefix), atol=1e-6)
        assert ens.log_prob("for i", context="x") == pytest.approx(lm.log_prob("for i", context="x"), abs=1e-5)


def test_ensemble_of_two_vocabularies_is_a_distribution(tok):
    from tokenizers import SentencePieceBPETokenizer

    from hf_tokens.testing import _TRAIN_TEXT

    sp = SentencePieceBPETokenizer()
    sp.train_from_iterator([_TRAIN_TEXT] * 4, vocab_size=300, special_tokens=["<unk>", "</s>"], show_progress=False)
    from transformers import PreTrainedTokenizerFast

    sp_tok = PreTrainedTokenizerFast(tokenizer_object=sp._tokenizer, eos_token="</s>", unk_token="<unk>")
    with pytest.raises(ValueError, match="byte fallback"):
        ByteLevelLM(tiny_model("llama", vocab_size=len(sp_tok)), sp_tok)
    a = ByteLevelLM(tiny_model("llama", seed=3), tok)
    b = ByteLevelLM(tiny_model("gpt2", seed=4), tok)
    ens = ByteLevelEnsemble([a, b], mode="product")
    d = ens.next_byte_distribution("def ")
    assert float(d.sum()) == pytest.approx(1.0, abs=1e-9)
    geo = a.next_byte_distribution("def ").sqrt() * b.next_byte_distribution("def ").sqrt()
    assert torch.allclose(d, geo / geo.sum(), atol=1e-9)


def test_bad_input(tok, lm):
    from transformers import PreTrainedTokenizerFast

    from hf_tokens.assets import AssetNotInstalledError, load_tokenizer

    model = tiny_model("llama")
    with pytest.raises(TypeError, match="fast tokenizer"):
        ByteLevelLM(model, object())
    try:
        wordpiece = load_tokenizer("minilm-l6")
    except AssetNotInstalledError:
        wordpiece = None
    if wordpiece is not None:
        with pytest.raises(ValueError, match="byte-level BPE"):
            ByteLevelLM(model, wordpiece)
    from tokenizers import Tokenizer, models

    empty = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE(vocab={}, merges=[])))
    with pytest.raises(ValueError, match="empty vocabulary"):
        ByteLevelLM(model, empty)
    with pytest.raises(ValueError, match="validity_tail"):
        ByteLevelConfig(validity_tail=1.5)
    with pytest.raises(ValueError, match="anchor_pretokens"):
        ByteLevelLM(model, tok, anchor_pretokens=0)
    with pytest.raises(ValueError, match="byte must be"):
        lm.advance(lm.start("a"), 256)
    with pytest.raises(ValueError, match="UTF-8"):
        lm.next_byte_distribution(b"\xff\xfe")
    with pytest.raises(TypeError, match="prefix must be bytes or str"):
        lm.next_byte_distribution(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        ByteLevelEnsemble([lm, lm], mode="max")
    with pytest.raises(ValueError, match="weights"):
        ByteLevelEnsemble([lm, lm], weights=[1.0, -1.0])


def test_sentencepiece_with_byte_fallback_and_dummy_prefix(real_tokenizer):
    """Mistral's SentencePiece BPE (dummy prefix, byte fallback) on a small random model: still a distribution."""
    sp = real_tokenizer("mistral")
    model = tiny_model("llama", vocab_size=len(sp), seed=5)
    lm = ByteLevelLM(model, sp)
    assert lm.vocab.kind == "sentencepiece" and lm.vocab.dummy_prefix == b" "
    for prefix in ("", "Hello wo", "na\u00efve"):
        dist = lm.next_byte_distribution(prefix)
        assert float(dist.sum()) == pytest.approx(1.0, abs=1e-5)
    assert np.isfinite(lm.log_prob(" world", context="Hello"))


def test_bytes_then_tokens_is_byte_greedy_to_the_first_space_then_token_greedy_from_the_map_cover(tok):
    """``prompt_boundary="bytes_then_tokens"`` (the paper's FIM procedure) rebuilt by hand: byte greedy from the exact
    next-byte distribution up to the first whitespace byte, then token greedy from the most probable cover encoding
    of the text so far (here without the prefix KV cache the strategy reuses)."""
    from hf_tokens.generation.byte_level import generate
    from hf_tokens.generation.byte_level.decoding import WHITESPACE, _pick_cover

    model = tiny_model("llama", seed=6)
    lm = ByteLevelLM(model, tok)
    prompt = "for i in ra"
    ids = torch.tensor([[*lm.start_ids, *tok(prompt, add_special_tokens=False).input_ids]])
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=8,
        custom_generate=generate,
        byte_lm=lm,
        prompt_boundary="bytes_then_tokens",
        max_new_bytes=64,
    )
    got = lm.vocab.decode(out[0, ids.shape[1] :].tolist())

    state, head = lm.start(prompt), bytearray()
    while not head or head[-1] not in WHITESPACE:
        b = int(lm.distribution(state).argmax())
        assert b != 256, "this seed must not end the text inside the word"
        head.append(b)
        state = lm.advance(state, b)
    context, overhang = _pick_cover(lm, state, model.generation_config, None)
    used = len(lm.vocab.encode(bytes(head))) + (len(lm.vocab.encode(overhang)) if overhang else 0)
    ctx = torch.tensor([list(context)])
    cont = model.generate(ctx, attention_mask=torch.ones_like(ctx), do_sample=False, max_new_tokens=8 - used)
    want = (
        bytes(head)
        + overhang
        + lm.vocab.decode([t for t in cont[0, ctx.shape[1] :].tolist() if t not in lm.vocab.eos_ids])
    )
    assert len(head) > 1  # the byte phase really ran over several bytes
    assert got == want[: len(got)] and len(got) >= len(head) + len(overhang)


@pytest.mark.parametrize("prefix", ["", "def ma", "for i in ra", "Hello  wor", "t\u00e9 0"])
def test_greedy_byte_equals_argmax_of_the_full_distribution(tok, prefix):
    """``greedy_byte`` decides validity lazily (bounds on each byte's mass); its answer must be the argmax of the
    fully checked distribution, computed by a separate wrapper so that no validity memo is shared."""
    model = tiny_model("llama", seed=7)
    lazy, full = ByteLevelLM(model, tok, shared_checker=False), ByteLevelLM(model, tok, shared_checker=False)
    text = prefix.encode()
    state = lazy.start(text)
    for b in b"ng(":  # along a continuation too: states built by advance
        assert greedy_byte(lazy, state, chunk=4) == int(full.next_byte_distribution(text).argmax())
        text += bytes([b])
        state = lazy.advance(state, b)
    assert lazy.validity_checks < full.validity_checks  # the bounds really spared checks
