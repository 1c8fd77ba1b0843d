"""Entropy Adaptive Decoding: the switching rule, the per-model caches and the limits, on tiny models."""

from __future__ import annotations

import math
from collections import deque

import pytest
import torch

from hf_tokens.generation.entropy_adaptive import ead
from hf_tokens.generation.entropy_adaptive.ead import EntropyAdaptiveConfig, _Lane, entropy, generate
from hf_tokens.testing import tiny_model

PROMPTS = ([5, 17, 42, 9, 100], [3, 250, 7], [11, 12, 13, 14, 15, 16, 17, 18])


@pytest.fixture(scope="module")
def pair():
    large = tiny_model("llama", seed=0, num_hidden_layers=3)
    small = tiny_model("llama", seed=1)
    return large, small


def _ids(prompt):
    return torch.tensor([prompt])


def reference_ead(large, small, prompt, max_new_tokens, threshold, window):
    """The switching rule with no cache at all: every prediction is a full forward over the whole sequence."""
    seq, current, owners = list(prompt), "small", []
    models = {"small": small, "large": large}
    entropies: deque[float] = deque(maxlen=window)
    for _ in range(max_new_tokens):
        logits = models[current](torch.tensor([seq])).logits[0, -1]
        entropies.append(entropy(logits))
        if current == "small" and sum(entropies) / len(entropies) > threshold:
            current = "large"
            logits = large(torch.tensor([seq])).logits[0, -1]
            entropies[-1] = entropy(logits)
        seq.append(int(logits.argmax()))
        owners.append(current)
        if current == "large" and sum(entropies) / len(entropies) < threshold:
            current = "small"
    return seq, owners


def _ead(large, small, ids, config, stats=None, **kwargs):
    """Greedy ``large.generate`` with entropy-adaptive decoding and ``small`` as the small model."""
    return large.generate(
        ids,
        do_sample=False,
        custom_generate=generate,
        small_model=small,
        entropy_adaptive_config=config,
        decoding_stats=stats,
        **kwargs,
    )


def median_entropy(small, large, prompt, max_new_tokens):
    """The median entropy of the small model's greedy continuation of ``prompt``: a threshold inside the range of
    entropies seen, so that both directions of switching happen."""
    seq, _ = reference_ead(large, small, prompt, max_new_tokens, threshold=math.inf, window=1)
    ents = sorted(entropy(small(torch.tensor([seq[:i]])).logits[0, -1]) for i in range(len(prompt), len(seq)))
    return ents[len(ents) // 2]


@torch.no_grad()
def test_threshold_zero_is_large_only_greedy(pair):
    large, small = pair
    for prompt in PROMPTS:
        stats: dict = {}
        plain = large.generate(_ids(prompt), max_new_tokens=16, do_sample=False)
        ours = _ead(large, small, _ids(prompt), {"threshold": 0.0}, stats, max_new_tokens=16)
        assert torch.equal(ours, plain)
        assert stats["large_fraction"] == 1.0 and stats["small_tokens"] == 0 and stats["switches"] == 1
        # the small model looked once at the first position; the large model forwarded the prompt, then one token
        assert stats["small_forwards"] == 1 and stats["large_forwards"] == 16


@torch.no_grad()
def test_threshold_inf_is_small_only_greedy(pair):
    large, small = pair
    for prompt in PROMPTS:
        stats: dict = {}
        plain = small.generate(_ids(prompt), max_new_tokens=16, do_sample=False)
        ours = generate(
            large,
            input_ids=_ids(prompt),
            max_new_tokens=16,
            do_sample=False,
            small_model=small,
            entropy_adaptive_config=EntropyAdaptiveConfig(threshold=math.inf),
            decoding_stats=stats,
        )
        assert torch.equal(ours, plain)
        assert stats["large_fraction"] == 0.0 and stats["large_forwards"] == 0 and stats["switches"] == 0


@torch.no_grad()
def test_switching_matches_a_cacheless_reference_and_switches_both_ways(pair):
    large, small = pair
    prompt = PROMPTS[0]
    threshold = median_entropy(small, large, prompt, 24)
    want, owners = reference_ead(large, small, prompt, 24, threshold=threshold, window=2)
    stats: dict = {}
    out = _ead(large, small, _ids(prompt), {"threshold": threshold, "window": 2}, stats, max_new_tokens=24)
    assert out[0].tolist() == want
    assert stats["large_tokens"] == owners.count("large") and stats["small_tokens"] == owners.count("small")
    assert 0 < stats["large_fraction"] < 1 and stats["switches"] >= 2
    # catch-up: every token is forwarded at most once per model (no re-prefill), the prompt included
    assert stats["small_forwarded_tokens"] <= len(want) - 1 and stats["large_forwarded_tokens"] <= len(want) - 1
    assert stats["large_forwards"] < stats["large_forwarded_tokens"]  # some catch-ups covered several tokens


@torch.no_grad()
def test_cache_catch_up_equals_recomputation(pair):
    large, _ = pair
    seq = torch.tensor([[5, 17, 42, 9, 100, 3, 250, 7, 11, 12, 13, 14]])
    lane = _Lane(large)
    for length in (4, 5, 9, 10, 12):  # chunks of 4, 1, 4, 1 and 2 tokens
        got = lane.next_logits(seq, length)
        want = large(seq[:, :length]).logits[0, -1]
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        assert lane.cache.get_seq_length() == length
    assert lane.forwards == 5 and lane.forwarded_tokens == 12
    assert lane.next_logits(seq, 12) is got and lane.forwards == 5  # nothing new to see: no forward


@torch.no_grad()
def test_sampling_and_dict_output(pair):
    large, small = pair
    torch.manual_seed(0)
    out = large.generate(
        _ids(PROMPTS[1]),
        max_new_tokens=8,
        do_sample=True,
        top_k=20,
        custom_generate=generate,
        small_model=small,
        return_dict_in_generate=True,
        output_scores=True,
        output_logits=True,
    )
    assert out.sequences.shape == (1, 3 + 8)
    assert len(out.scores) == 8 and out.scores[0].shape == (1, 320) and len(out.logits) == 8
    assert all(int(torch.isfinite(s).sum()) <= 20 for s in out.scores)  # top_k applied to the scores


def test_bad_inputs_are_refused(pair):
    large, small = pair
    ids = _ids(PROMPTS[0])
    with pytest.raises(ValueError, match="vocabulary"):
        large.generate(
            ids, max_new_tokens=2, custom_generate=generate, small_model=tiny_model("llama", vocab_size=256)
        )
    with pytest.raises(ValueError, match="small_model is required"):
        large.generate(ids, max_new_tokens=2, custom_generate=generate)
    with pytest.raises(TypeError, match="small_model"):
        large.generate(ids, max_new_tokens=2, custom_generate=generate, small_model="Qwen/Qwen2.5-0.5B")
    for bad in (-0.5, float("nan"), "1.0", True):
        with pytest.raises(ValueError, match="threshold"):
            EntropyAdaptiveConfig(threshold=bad)
    with pytest.raises(ValueError, match="window"):
        EntropyAdaptiveConfig(window=0)
    with pytest.raises(TypeError, match="no field"):
        generate(large, input_ids=ids, small_model=small, entropy_adaptive_config={"thresh": 1.0})
    two = torch.tensor([PROMPTS[1], PROMPTS[1]])
    right = torch.tensor([[1, 1, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match="left padding"):
        large.generate(two, attention_mask=right, max_new_tokens=2, custom_generate=generate, small_model=small)
    with pytest.raises(ValueError, match="output_scores/output_logits need batch size 1"):
        large.generate(
            two,
            max_new_tokens=2,
            custom_generate=generate,
            small_model=small,
            return_dict_in_generate=True,
            output_scores=True,
        )


def _left_padded(prompts, pad=0):
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


@torch.no_grad()
def test_a_left_padded_batch_decodes_each_row_as_on_its_own(pair):
    """Each row switches on its own schedule: the batch gives every row exactly what a batch-size-1 call gives it,
    padding and all, and rows that stop early are filled with pad_token_id."""
    large, small = pair
    config = {"threshold": median_entropy(small, large, PROMPTS[0], 12), "window": 2}
    alone, alone_stats = [], []
    for prompt in PROMPTS:
        stats: dict = {}
        out = _ead(large, small, _ids(prompt), config, stats, max_new_tokens=12)
        alone.append(out[0, len(prompt) :].tolist())
        alone_stats.append(stats)
    eos = alone[0][3]  # row 0 stops after 4 tokens (the others run on unless they produce it too)
    want = [new[: new.index(eos) + 1] if eos in new else new for new in alone]
    ids, mask = _left_padded(PROMPTS)
    stats = {}
    out = _ead(
        large, small, ids, config, stats, attention_mask=mask, max_new_tokens=12, eos_token_id=eos, pad_token_id=0
    )
    width = ids.shape[1]
    assert out.shape == (3, width + max(len(w) for w in want))
    for b, w in enumerate(want):
        assert torch.equal(out[b, :width], ids[b])
        assert out[b, width:].tolist() == w + [0] * (out.shape[1] - width - len(w))
    assert len(stats["row_large_fractions"]) == 3 and stats["new_tokens"] == sum(len(w) for w in want)
    assert stats["large_tokens"] + stats["small_tokens"] == sum(len(w) for w in want)
    for b in range(1, 3):
        if want[b] == alone[b]:  # a row that ran its full length switched exactly as it does alone
            assert stats["row_large_fractions"][b] == alone_stats[b]["large_fraction"]
    assert 0 < stats["large_fraction"] < 1


@torch.no_grad()
def test_padding_is_never_forwarded(pair):
    """A row's left padding is outside both caches: at threshold 0 a padded row is the unpadded large-only greedy."""
    large, small = pair
    ids, mask = _left_padded([PROMPTS[1], PROMPTS[2]], pad=7)
    stats: dict = {}
    out = _ead(large, small, ids, {"threshold": 0.0}, stats, attention_mask=mask, max_new_tokens=8)
    plain = large.generate(_ids(PROMPTS[1]), max_new_tokens=8, do_sample=False)
    assert out[0, ids.shape[1] :].tolist() == plain[0, len(PROMPTS[1]) :].tolist()
    # the large model forwarded each prompt's real tokens once, then one token per step: no padding
    assert stats["large_forwarded_tokens"] == len(PROMPTS[1]) + len(PROMPTS[2]) + 2 * 7


@torch.no_grad()
def test_force_large_trigger_hands_exactly_the_claimed_positions_to_the_large_model(pair):
    """With the small model trusted everywhere (threshold inf), the trigger alone picks the large model's positions:
    each position decoded with the large model's greedy choice exactly where the trigger fired on the ids so far."""
    large, small = pair
    prompt = PROMPTS[0]
    fire = lambda ids: int(ids[-1]) % 3 == 0  # noqa: E731  (after any token id divisible by 3)
    seq = list(prompt)
    owners = []
    for _ in range(20):  # the rule by hand, no cache
        model = large if fire(torch.tensor(seq)) else small
        seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
        owners.append(model is large)
    stats: dict = {}
    out = _ead(large, small, _ids(prompt), {"threshold": math.inf}, stats, max_new_tokens=20, force_large=fire)
    assert out[0].tolist() == seq
    assert stats["forced_large"] == stats["large_tokens"] == sum(owners) > 0
    assert stats["small_forwards"] + stats["large_forwards"] < 2 * 20  # no small forward spent on forced positions


def test_regex_trigger_reads_the_recent_text():
    class Chars:  # a tokenizer whose ids are character codes
        def decode(self, ids):
            return "".join(chr(i) for i in ids)

    trigger = ead.regex_trigger(Chars(), r"=\s*-?\d*$", lookback=4)
    ids = lambda text: torch.tensor([ord(c) for c in text])  # noqa: E731
    assert trigger(ids("12 + 3 = ")) and trigger(ids("3 = 1")) and trigger(ids("=-15"))
    assert not trigger(ids("3 = 15.")) and not trigger(ids("12 + 3")) and not trigger(ids("a = 12345"))  # lookback
    with pytest.raises(ValueError, match="pattern"):
        ead.regex_trigger(Chars(), "(")
    with pytest.raises(ValueError, match="lookback"):
        ead.regex_trigger(Chars(), "=", lookback=0)
    with pytest.raises(TypeError, match="tokenizer"):
        ead.regex_trigger(object(), "=")


def test_force_large_must_be_callable(pair):
    large, small = pair
    with pytest.raises(TypeError, match="force_large"):
        _ead(large, small, _ids(PROMPTS[0]), {}, max_new_tokens=2, force_large="=")


def test_registered_and_exported_names():
    from hf_tokens.registry import get

    spec = get("entropy-adaptive-decoding")
    assert spec.implemented and spec.load("entry") is generate and spec.load("config") is EntropyAdaptiveConfig
    assert ead.contract()["lossless"] is False


def test_demo_small_model_is_a_4bit_copy_and_leaves_the_large_model_alone(pair):
    """`hf-tokens run`'s small model: a separate, quantized copy (same vocabulary), the large model untouched."""
    large, _ = pair
    before = {k: v.clone() for k, v in large.state_dict().items()}
    small = ead.run_kwargs(large, None)["small_model"]
    assert small is not large and type(large.model.layers[0].mlp.up_proj) is torch.nn.Linear
    assert type(small.model.layers[0].mlp.up_proj) is not torch.nn.Linear  # replaced by the packed 4-bit module
    assert all(torch.equal(v, large.state_dict()[k]) for k, v in before.items())
    ids = _ids(PROMPTS[0])
    assert small(ids).logits.shape == large(ids).logits.shape
    out = large.generate(ids, max_new_tokens=6, custom_generate=generate, small_model=small, do_sample=False)
    assert out.shape == (1, len(PROMPTS[0]) + 6)
