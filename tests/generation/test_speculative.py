"""Token Recycling, ADED and DySpec inside ``model.generate``: lossless greedy output, lossless sampling, the usual
generation arguments, the Hub folder route, and bad input refused before any forward."""

from __future__ import annotations

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from hf_tokens.generation import aded, dyspec, token_recycling
from hf_tokens.generation.tree import accept as accept_mod
from hf_tokens.testing import tiny_model

NEAR_TIE = 1e-4


def _methods(model):
    """(name, custom_generate callable, extra generate kwargs) for every method."""
    return [
        ("token-recycling", token_recycling.generate, {}),
        ("token-recycling-80", token_recycling.generate, {"token_recycling_config": {"tree_size": 80}}),
        ("aded", aded.generate, {}),
        ("dyspec", dyspec.generate, {"draft_model": dyspec.truncated_draft(model, 1)}),
        ("dyspec-self", dyspec.generate, {"draft_model": model, "dyspec_config": {"threshold": 0.0}}),
    ]


def assert_same_greedy(model, prompt: torch.Tensor, ours: torch.Tensor, plain: torch.Tensor, what: str) -> None:
    """Identical, or the first divergence is a near-tie of the reference path (DESIGN.md convention 7)."""
    if torch.equal(ours, plain):
        return
    n = min(ours.shape[1], plain.shape[1])
    diff = (ours[0, :n] != plain[0, :n]).nonzero()
    assert len(diff), f"{what}: one output is a prefix of the other ({ours.shape[1]} vs {plain.shape[1]} tokens)"
    first = int(diff[0])
    assert first >= prompt.shape[1], f"{what}: the prompt changed"
    with torch.no_grad():
        logits = model(input_ids=plain[:, :first]).logits[0, -1].float()
    top = logits.topk(2).values
    gap = float(top[0] - top[1])
    assert gap < NEAR_TIE, f"{what}: diverged at token {first - prompt.shape[1]} with top-2 gap {gap:.3g} (no tie)"


def _prompts(vocab: int, n: int = 3, length: int = 12) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    out = [torch.randint(2, vocab, (1, length), generator=g) for _ in range(n)]
    out.append(torch.tensor([[5, 6, 7, 8, 9, 5, 6, 7, 8, 9, 5, 6]]))  # repetitive: drafts get accepted
    return out


@pytest.mark.parametrize("arch", ["llama", "qwen2", "mistral", "gpt2"])
def test_greedy_output_equals_plain_generate_on_tiny_models(arch):
    model = tiny_model(arch)
    for prompt in _prompts(model.config.vocab_size):
        plain = model.generate(prompt, max_new_tokens=32, do_sample=False)
        for name, fn, extra in _methods(model):
            ours = model.generate(prompt, max_new_tokens=32, do_sample=False, custom_generate=fn, **extra)
            assert_same_greedy(model, prompt, ours, plain, f"{name}/{arch}")


def test_drafts_are_accepted_and_stats_reported(tiny_llama):
    prompt = _prompts(tiny_llama.config.vocab_size)[-1]
    for name, fn, extra in _methods(tiny_llama):
        stats: dict = {}
        tiny_llama.generate(
            prompt, max_new_tokens=32, do_sample=False, custom_generate=fn, decoding_stats=stats, **extra
        )
        assert stats["new_tokens"] == 32 and stats["steps"] < 31, name
        assert stats["mean_accepted"] > 1.0, name
    stats = {}
    tiny_llama.generate(prompt, max_new_tokens=8, custom_generate=token_recycling.generate, decoding_stats=stats)
    assert stats["matrix_bytes"] == tiny_llama.config.vocab_size * (8 * 4 + 1)  # int32 table + "written" flags


def test_static_cache_and_return_dict_with_scores(tiny_llama):
    prompt = _prompts(tiny_llama.config.vocab_size)[0]
    kw = dict(max_new_tokens=20, do_sample=False, return_dict_in_generate=True, output_scores=True, output_logits=True)
    plain = tiny_llama.generate(prompt, **kw)
    for name, fn, extra in _methods(tiny_llama):
        ours = tiny_llama.generate(prompt, custom_generate=fn, cache_implementation="static", **kw, **extra)
        assert torch.equal(ours.sequences, plain.sequences), name
        assert len(ours.scores) == len(plain.scores) == 20
        for a, b in zip(ours.scores, plain.scores):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        for a, b in zip(ours.logits, plain.logits):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        assert int(ours.cache.get_seq_length()) == ours.sequences.shape[1] - 1


class _BanEvenTokens(LogitsProcessor):
    def __call__(self, input_ids, scores):
        scores = scores.clone()
        scores[:, ::2] = -float("inf")
        if input_ids.shape[1] % 3 == 0:  # depends on the context length: must be applied per node in context
            scores[:, 1::4] = -float("inf")
        return scores


class _StopAfter(StoppingCriteria):
    def __init__(self, token: int):
        self.token = token

    def __call__(self, input_ids, scores, **kwargs):
        return input_ids[:, -1] == self.token


def test_logits_processors_stopping_criteria_min_tokens_and_eos(tiny_llama):
    prompt = _prompts(tiny_llama.config.vocab_size)[-1]
    kw = dict(max_new_tokens=30, do_sample=False, logits_processor=LogitsProcessorList([_BanEvenTokens()]))
    plain = tiny_llama.generate(prompt, **kw)
    stop_token = int(plain[0, prompt.shape[1] + 9])
    for name, fn, extra in _methods(tiny_llama):
        assert torch.equal(tiny_llama.generate(prompt, custom_generate=fn, **kw, **extra), plain), name
        crit = StoppingCriteriaList([_StopAfter(stop_token)])
        want = tiny_llama.generate(prompt, stopping_criteria=crit, **kw)
        got = tiny_llama.generate(prompt, stopping_criteria=crit, custom_generate=fn, **kw, **extra)
        assert torch.equal(got, want) and int(got[0, -1]) == stop_token, name
        eos = int(plain[0, prompt.shape[1] + 4])
        want = tiny_llama.generate(prompt, eos_token_id=eos, min_new_tokens=8, **kw)
        got = tiny_llama.generate(prompt, eos_token_id=eos, min_new_tokens=8, custom_generate=fn, **kw, **extra)
        assert torch.equal(got, want), name


def test_streamer_receives_the_prompt_then_every_new_token(tiny_llama):
    class Collect:
        def __init__(self):
            self.chunks, self.ended = [], False

        def put(self, value):
            self.chunks.append(value.flatten().tolist())

        def end(self):
            self.ended = True

    prompt = _prompts(tiny_llama.config.vocab_size)[-1]
    for name, fn, extra in _methods(tiny_llama):
        streamer = Collect()
        out = tiny_llama.generate(prompt, max_new_tokens=16, streamer=streamer, custom_generate=fn, **extra)
        assert streamer.chunks[0] == prompt[0].tolist() and streamer.ended, name
        assert [t for chunk in streamer.chunks[1:] for t in chunk] == out[0, prompt.shape[1] :].tolist(), name


def test_raw_call_and_exported_folder_match_the_callable(tiny_llama, tmp_path):
    from hf_tokens.hub import export_custom_generate

    prompt = _prompts(tiny_llama.config.vocab_size)[1]
    plain = tiny_llama.generate(prompt, max_new_tokens=12, do_sample=False)
    for method_id, module in (("token-recycling", token_recycling), ("aded", aded)):
        assert torch.equal(module.generate(tiny_llama, input_ids=prompt, max_new_tokens=12, do_sample=False), plain)
        folder = export_custom_generate(method_id, tmp_path / method_id)
        out = tiny_llama.generate(
            prompt, max_new_tokens=12, do_sample=False, custom_generate=str(folder), trust_remote_code=True
        )
        assert torch.equal(out, plain), method_id
    folder = export_custom_generate("dyspec", tmp_path / "dyspec")
    out = tiny_llama.generate(
        prompt,
        max_new_tokens=12,
        do_sample=False,
        custom_generate=str(folder),
        trust_remote_code=True,
        draft_model=dyspec.truncated_draft(tiny_llama, 1),
    )
    assert torch.equal(out, plain)


def test_public_generate_is_one_wrapper_with_the_methods_signature_and_doc():
    import inspect

    from hf_tokens.generation import byte_level

    expected = {
        token_recycling.generate: ("token_recycling_config", "token_recycling_state", "decoding_stats"),
        aded.generate: ("aded_config", "decoding_stats", "onednn_linear"),
        dyspec.generate: ("dyspec_config", "draft_model", "decoding_stats"),
        byte_level.generate: ("byte_level_config", "byte_lm", "byte_tokenizer", "prompt_boundary", "max_new_bytes"),
    }
    for fn, names in expected.items():
        params = inspect.signature(fn).parameters
        assert list(params)[:3] == ["model", "input_ids", "logits_processor"] and set(names) <= set(params)
        assert fn.__name__ == "generate" and "call conventions" in fn.__doc__
    assert "Token Recycling" in token_recycling.generate.__doc__ and "ADED" in aded.generate.__doc__
    assert "draft_model" in dyspec.generate.__doc__ and "byte_tokenizer" in byte_level.generate.__doc__
    assert token_recycling.generate.__module__ == "hf_tokens.generation.token_recycling.recycling"
    assert byte_level.generate.__module__ == "hf_tokens.generation.byte_level.custom_generate"


def test_both_call_conventions_take_config_objects_dicts_and_options(tiny_llama):
    prompt = _prompts(tiny_llama.config.vocab_size)[-1]
    plain = tiny_llama.generate(prompt, max_new_tokens=12, do_sample=False)
    config = {"tree_size": 4}
    for as_object in (False, True):
        cfg = token_recycling.TokenRecyclingConfig(**config) if as_object else config
        via_generate, raw = {}, {}
        out = tiny_llama.generate(
            prompt,
            max_new_tokens=12,
            do_sample=False,
            custom_generate=token_recycling.generate,
            token_recycling_config=cfg,
            decoding_stats=via_generate,
        )
        direct = token_recycling.generate(
            tiny_llama, prompt, max_new_tokens=12, do_sample=False, token_recycling_config=cfg, decoding_stats=raw
        )
        assert torch.equal(out, plain) and torch.equal(direct, plain)
        assert via_generate["tree_size"] == raw["tree_size"] == 4 and raw["steps"] == via_generate["steps"]


def test_make_custom_generate_for_a_new_method(tiny_llama):
    """A toy method built with the shared wrapper: greedy by hand, with a config and an option."""
    from dataclasses import dataclass

    from hf_tokens.generation import make_custom_generate

    @dataclass
    class ToyConfig:
        scale: float = 1.0

    seen: list = []

    def decode(model, input_ids, *, toy_config, toy_log=None, generation_config, **kwargs):
        seen.append((type(toy_config).__name__, toy_config.scale, toy_log))
        ids = input_ids
        for _ in range(generation_config.max_new_tokens):
            nxt = model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
        return ids

    toy = make_custom_generate(decode, ToyConfig, "toy_config", options={"toy_log": None}, doc="Toy greedy.")
    prompt = _prompts(tiny_llama.config.vocab_size)[0]
    plain = tiny_llama.generate(prompt, max_new_tokens=6, do_sample=False)
    assert torch.equal(tiny_llama.generate(prompt, max_new_tokens=6, custom_generate=toy, toy_log="a"), plain)
    assert torch.equal(toy(tiny_llama, prompt, max_new_tokens=6, toy_config={"scale": 2.0}), plain)
    assert seen == [("ToyConfig", 1.0, "a"), ("ToyConfig", 2.0, None)]
    assert toy.__doc__.startswith("Toy greedy.") and "toy_config" in toy.__doc__
    with pytest.raises(TypeError, match=r"toy_config has no field\(s\) \['scal'\]"):
        toy(tiny_llama, prompt, toy_config={"scal": 2.0})
    with pytest.raises(TypeError, match="toy_config must be a ToyConfig or dict, got int"):
        tiny_llama.generate(prompt, custom_generate=toy, toy_config=3)


TEMPERATURE = 0.2


def _joint_counts(model, prompt, n, vocab, state):
    counts = torch.zeros(vocab * vocab + 1, dtype=torch.float64)
    config = token_recycling.TokenRecyclingConfig(tree_paths=tuple((r,) for r in range(8)))  # root + 8 children
    for seed in range(n):
        torch.manual_seed(seed)
        out = model.generate(
            prompt,
            max_new_tokens=3,  # the third token leaves room for one draft level when the second is decided
            do_sample=True,
            top_k=0,
            temperature=TEMPERATURE,
            custom_generate=token_recycling.generate,
            token_recycling_config=config,
            token_recycling_state=state,
        )
        a, b = out[0, prompt.shape[1] : prompt.shape[1] + 2].tolist()
        counts[a * vocab + b] += 1
    return counts


def _chi2_pvalue(counts, probs):
    expected = probs * counts.sum()
    big = expected >= 5
    obs = torch.cat([counts[big], counts[~big].sum().view(1)])
    exp = torch.cat([expected[big], expected[~big].sum().view(1)])
    stat = ((obs - exp) ** 2 / exp).sum()
    return float(torch.special.gammaincc(torch.tensor((len(obs) - 1) / 2, dtype=torch.float64), stat / 2))


def test_sampling_through_generate_keeps_the_target_distribution(monkeypatch):
    """Joint law of the first two sampled tokens (the second goes through tree acceptance) vs the exact law."""
    model = tiny_model("llama", seed=3)
    vocab = model.config.vocab_size
    prompt = torch.tensor([[5, 6, 7, 8, 9, 5, 6, 7, 8]])
    with torch.no_grad():  # exact joint law by enumerating every first token
        p1 = torch.softmax(model(prompt).logits[0, -1].double() / TEMPERATURE, -1)
        batch = torch.cat([prompt.expand(vocab, -1), torch.arange(vocab).view(-1, 1)], dim=1)
        p2 = torch.softmax(model(batch).logits[:, -1].double() / TEMPERATURE, -1)
    probs = torch.cat([(p1.view(-1, 1) * p2).flatten(), torch.zeros(1, dtype=torch.float64)])
    # Strong drafts: after any first token a, the candidates are the 8 most likely second tokens (the matrix
    # Token Recycling would hold after seeing a in this context), so the acceptance rule decides most draws.
    state = token_recycling.AdjacencyMatrix(vocab, 8)
    state.table[:] = p2.topk(8, dim=-1).indices.to(torch.int32)
    state.seen[:] = True
    assert float(p2.topk(8, dim=-1).values.sum(-1).mul(p1).sum()) > 0.5
    stats: dict = {}
    model.generate(
        prompt,
        max_new_tokens=3,
        custom_generate=token_recycling.generate,
        token_recycling_state=state.copy(),
        decoding_stats=stats,
    )
    assert stats["mean_tree_nodes"] > 1  # the second token is decided by the tree acceptance rule

    n = 800
    assert _chi2_pvalue(_joint_counts(model, prompt, n, vocab, state), probs) > 1e-3
    state.table[:] = p2.topk(8, dim=-1).indices.to(torch.int32)
    monkeypatch.setattr(accept_mod, "residual", lambda p, token: p.clone())  # the broken rule
    assert _chi2_pvalue(_joint_counts(model, prompt, n, vocab, state), probs) < 1e-6


def test_bad_input_is_refused_before_any_forward(tiny_llama):
    calls = []
    handle = tiny_llama.register_forward_hook(lambda *a: calls.append(1))
    prompt = _prompts(tiny_llama.config.vocab_size)[0]
    try:
        with pytest.raises(ValueError, match="tree_size"):
            tiny_llama.generate(
                prompt, custom_generate=token_recycling.generate, token_recycling_config={"tree_size": 0}
            )
        with pytest.raises(ValueError, match="tree_size"):
            token_recycling.TokenRecyclingConfig(tree_size=0)
        with pytest.raises(ValueError, match="tree_size"):
            aded.ADEDConfig(tree_size=0)
        with pytest.raises(ValueError, match="max_tree_size"):
            dyspec.DySpecConfig(max_tree_size=0)
        with pytest.raises(ValueError, match=r"simulations must be an int >= 1, got '4'"):
            aded.ADEDConfig(simulations="4")
        with pytest.raises(ValueError, match="prefill_update_tokens must be an int >= 0, got -1"):
            token_recycling.TokenRecyclingConfig(prefill_update_tokens=-1)
        token_recycling.TokenRecyclingConfig(prefill_update_tokens=0)  # 0 is allowed (no prefill update)
        other_vocab = tiny_model("llama", vocab_size=400)
        with pytest.raises(ValueError, match="vocabulary"):
            tiny_llama.generate(prompt, custom_generate=dyspec.generate, draft_model=other_vocab)
        with pytest.raises(ValueError, match="draft_model is required"):
            tiny_llama.generate(prompt, custom_generate=dyspec.generate)
        from transformers import DynamicCache

        class Evicting(DynamicCache):
            pass

        with pytest.raises(ValueError, match="DynamicCache or StaticCache"):
            tiny_llama.generate(prompt, custom_generate=aded.generate, cache=Evicting())
        with pytest.raises(ValueError, match="batch size 1"):
            tiny_llama.generate(prompt.repeat(2, 1), custom_generate=token_recycling.generate)
        with pytest.raises(ValueError, match="num_beams"):
            tiny_llama.generate(prompt, num_beams=2, custom_generate=token_recycling.generate)
        with pytest.raises(TypeError, match="token_recycling_state"):
            tiny_llama.generate(prompt, custom_generate=token_recycling.generate, token_recycling_state=[1])
        with pytest.raises(TypeError, match=r"aded_config has no field\(s\) \['tree_sise'\]"):
            aded.generate(tiny_llama, prompt, aded_config={"tree_sise": 4})
        with pytest.raises(TypeError, match="dyspec_config must be a DySpecConfig or dict"):
            dyspec.generate(tiny_llama, prompt, draft_model=tiny_llama, dyspec_config=aded.ADEDConfig())
    finally:
        handle.remove()
    assert not calls


def test_token_recycling_matrix_persists_when_passed_and_learns_from_verification(tiny_llama):
    prompt = _prompts(tiny_llama.config.vocab_size)[-1]
    state = token_recycling.AdjacencyMatrix(tiny_llama.config.vocab_size, 8)
    out = tiny_llama.generate(
        prompt, max_new_tokens=16, custom_generate=token_recycling.generate, token_recycling_state=state
    )
    # The row of the last prompt token holds the top-8 of the prompt's last logits (written at prefill).
    with torch.no_grad():
        logits = tiny_llama(out[:, :-1]).logits[0]
    tokens = out[0, :-1].tolist()
    last = max(i for i, t in enumerate(tokens) if t == tokens[-1])
    assert set(state.table[tokens[-1]].tolist()) == set(logits[last].topk(8).indices.tolist())
    assert state.nbytes == tiny_llama.config.vocab_size * (8 * 4 + 1)


def test_token_recycling_leaves_out_subtrees_below_never_written_rows():
    config = token_recycling.TokenRecyclingConfig(tree_paths=((0,), (1,), (0, 0), (0, 1), (1, 0), (0, 0, 0)))
    matrix = token_recycling.AdjacencyMatrix(50, 8)
    proposer = token_recycling.TokenRecyclingProposer(config, matrix, "cpu")
    assert proposer.propose([3, 7]).tokens == [7]  # nothing written: just the root, a one-token step
    logits = torch.zeros(1, 50)
    logits[0, [11, 12]] = torch.tensor([2.0, 1.0])
    matrix.write(torch.tensor([7]), logits)  # row 7: 11, 12, ...; rows 11 and 12 still unwritten
    tree = proposer.propose([3, 7])
    assert tree.tokens == [7, 11, 12] and tree.shape.parents == (-1, 0, 0)
    matrix.write(torch.tensor([11]), logits.roll(1, dims=-1))  # row 11: 12, 13, ...
    tree = proposer.propose([3, 7])
    assert tree.tokens == [7, 11, 12, 12, 13] and tree.shape.parents == (-1, 0, 0, 1, 1)
    matrix.write(torch.arange(50), logits.expand(50, -1))  # every row written: the full template
    assert len(proposer.propose([3, 7])) == len(proposer.shape)


def test_aded_drafts_follow_the_adaptive_trigram_table():
    proposer = aded.ADEDProposer(aded.ADEDConfig(tree_size=6, simulations=20, exploration=0.5))
    tokens = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
    proposer.start(tokens, None)
    tree = proposer.propose(tokens)
    assert tree.tokens[0] == 2 and tree.tokens[1] == 3  # (1, 2) -> 3 was always seen
    path = tree.shape.path_to(max(range(len(tree)), key=lambda i: tree.shape.depth[i]))
    assert [tree.tokens[i] for i in path][:4] == [2, 3, 4, 1]
    # adaptation: a new continuation after (1, 2) shows up once it has been accepted often enough
    tokens += [9, 1, 2, 9, 1, 2, 9, 1, 2, 9, 1, 2]
    tree = proposer.propose(tokens)
    assert 9 in [tree.tokens[c] for c in tree.shape.children[0]]


def test_dyspec_tree_grows_with_draft_confidence(tiny_llama):
    prompt = _prompts(tiny_llama.config.vocab_size)[-1]
    sizes = {}
    for threshold in (0.0, 0.3):
        stats: dict = {}
        tiny_llama.generate(
            prompt,
            max_new_tokens=16,
            custom_generate=dyspec.generate,
            draft_model=tiny_llama,
            dyspec_config={"threshold": threshold},
            decoding_stats=stats,
        )
        sizes[threshold] = stats["mean_tree_nodes"]
    assert sizes[0.0] > sizes[0.3] >= 1


def test_truncated_draft_shares_weights_and_full_depth_equals_the_model(tiny_llama):
    full = dyspec.truncated_draft(tiny_llama, 2)
    one = dyspec.truncated_draft(tiny_llama, 1)
    ids = _prompts(tiny_llama.config.vocab_size)[0]
    with torch.no_grad():
        torch.testing.assert_close(full(ids).logits, tiny_llama(ids).logits)
    assert one.lm_head.weight.data_ptr() == tiny_llama.lm_head.weight.data_ptr()
    assert len(one.model.layers) == 1 and one.model.layers[0] is tiny_llama.model.layers[0]
    with pytest.raises(ValueError, match="num_layers"):
        dyspec.truncated_draft(tiny_llama, 3)


def test_real_model_greedy_equality_short(smollm2):
    """A couple of short real prompts (the 25 x 64 run is the slow test below)."""
    from hf_tokens.generation.tree.prompts import speculative_prompts

    model, tok = smollm2
    prompts = speculative_prompts(tok, per_kind=1, context_chars=300)[:2]
    draft = dyspec.truncated_draft(model, 8)
    for kind, ids in prompts:
        prompt = torch.tensor([ids])
        plain = model.generate(prompt, max_new_tokens=16, do_sample=False)
        for name, fn, extra in (
            ("token-recycling", token_recycling.generate, {}),
            ("aded", aded.generate, {}),
            ("dyspec", dyspec.generate, {"draft_model": draft}),
        ):
            ours = model.generate(prompt, max_new_tokens=16, do_sample=False, custom_generate=fn, **extra)
            assert_same_greedy(model, prompt, ours, plain, f"{name}/{kind}")


@pytest.mark.slow
def test_real_model_greedy_equality_10_prompts_64_tokens(smollm2):
    """Two prompts of each kind (CI time; benchmarks/speculative.py asserts the same on all 25 prompts)."""
    from hf_tokens.generation.tree.prompts import speculative_prompts

    model, tok = smollm2
    draft = dyspec.truncated_draft(model, 4)  # cheap draft: losslessness does not depend on its quality
    for kind, ids in speculative_prompts(tok, per_kind=2, context_chars=600):
        prompt = torch.tensor([ids])
        plain = model.generate(prompt, max_new_tokens=64, do_sample=False)
        for name, fn, extra in (
            ("token-recycling", token_recycling.generate, {}),
            ("aded", aded.generate, {}),
            ("dyspec", dyspec.generate, {"draft_model": draft}),
        ):
            ours = model.generate(prompt, max_new_tokens=64, do_sample=False, custom_generate=fn, **extra)
            assert_same_greedy(model, prompt, ours, plain, f"{name}/{kind}")


def test_byte_level_generate_takes_its_config_as_object_or_dict(tiny_llama):
    from hf_tokens.generation import byte_level
    from hf_tokens.testing import tiny_tokenizer

    tok = tiny_tokenizer(tiny_llama.config.vocab_size)
    prompt = torch.tensor([tok("def main():\n    ret").input_ids])
    kw = dict(max_new_tokens=3, do_sample=False, byte_tokenizer=tok)
    outs = [
        tiny_llama.generate(prompt, custom_generate=byte_level.generate, byte_level_config=cfg, **kw)
        for cfg in ({"batch_size": 4}, byte_level.ByteLevelConfig(batch_size=4), None)
    ]
    outs.append(byte_level.generate(tiny_llama, prompt, byte_level_config={"batch_size": 4}, **kw))
    assert all(torch.equal(o, outs[0]) for o in outs)
    with pytest.raises(TypeError, match=r"byte_level_config has no field\(s\) \['batch'\]"):
        tiny_llama.generate(prompt, custom_generate=byte_level.generate, byte_level_config={"batch": 4}, **kw)
