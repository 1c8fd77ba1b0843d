"""benchmarks/speculative.py with a separate draft model (``--draft-model``): every linear of the target *and* the
draft runs on oneDNN under the oneDNN kernel (one-row calls included), outputs stay greedy's, only target forwards
are counted, the models are restored, and a draft with other token ids is refused."""

from __future__ import annotations

import argparse

import pytest
import torch

from benchmarks import speculative
from hf_tokens.generation import aded, dyspec
from hf_tokens.generation.tree import linear
from hf_tokens.testing import tiny_model, tiny_tokenizer

pytestmark = pytest.mark.skipif(not linear.onednn_available(), reason="PyTorch built without oneDNN")


@pytest.fixture
def weights_on_onednn(monkeypatch):
    """The ids of the weight tensors every oneDNN linear call used, with the number of rows of each call."""
    calls: list[tuple[int, int]] = []
    original = linear.onednn_linear

    def spy(x, weight, bias):
        calls.append((id(weight), x.numel() // x.shape[-1]))
        return original(x, weight, bias)

    monkeypatch.setattr(linear, "onednn_linear", spy)
    return calls


def _linear_weights(model) -> set[int]:
    return {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)}


@pytest.mark.parametrize("method", ["assisted", "dyspec"])
def test_a_separate_draft_runs_on_the_same_onednn_linears_and_keeps_greedy_output(weights_on_onednn, method):
    target, draft = tiny_model("qwen2", seed=0), tiny_model("qwen2", seed=1, num_hidden_layers=1)
    models = (target, draft)
    if method == "assisted":
        make = lambda kernel: {"assistant_model": draft}  # noqa: E731
    else:  # the benchmark's tree-method kwargs: the method's own oneDNN switch follows the kernel
        make = speculative.tree_method(dyspec.generate, draft_model=draft)
    prompt = torch.tensor([[5, 6, 7, 8, 9, 5, 6, 7, 8, 9, 5, 6]])
    plain = target.generate(prompt, max_new_tokens=20, do_sample=False)
    forwards = len(plain[0]) - len(prompt[0])  # greedy: one target forward per new token
    out, seconds, calls = speculative.run_once(models, prompt, make("oneDNN"), "oneDNN", 20, lambda: None)
    assert torch.equal(out, plain) and seconds > 0
    assert 1 <= calls <= forwards, "only the target's forwards are counted (the draft has its own)"
    draft_calls = [rows for w, rows in weights_on_onednn if w in _linear_weights(draft)]
    target_calls = [rows for w, rows in weights_on_onednn if w in _linear_weights(target)]
    assert 1 in draft_calls and 1 in target_calls, "one-row decoding steps of both models ran on oneDNN"
    assert all("forward" not in m.__dict__ for model in models for m in model.modules()), "models restored"
    weights_on_onednn.clear()
    out, _, _ = speculative.run_once(models, prompt, make("stock"), "stock", 20, lambda: None)
    assert torch.equal(out, plain) and not weights_on_onednn, "the stock kernel patches nothing"


def test_methods_with_a_separate_draft_are_named_after_it_and_run_on_every_prompt():
    model, draft = tiny_model(seed=0), tiny_model(seed=1)
    args = argparse.Namespace(tree_size=8, draft_layers=1, draft_model="tiny-draft", lookup_tokens=4, sweep=None)
    args.hot_start = False
    methods = {m.name: m for m in speculative.build_methods(model, None, args, draft)}
    for name in ("assisted (HF), tiny-draft draft", "dyspec, tiny-draft draft"):
        assert not methods[name].slow
    assert methods["dyspec, tiny-draft draft"].kwargs("oneDNN")["draft_model"] is draft
    args.draft_model = None
    self_draft = {m.name: m for m in speculative.build_methods(model, None, args)}
    assert self_draft["dyspec, 1-layer self-draft"].slow and self_draft["assisted (HF), 1-layer self-draft"].slow
    assert aded.generate is methods["aded"].kwargs("stock")["custom_generate"]


def _chat_tokenizer(vocab_size: int = 320):
    tok = tiny_tokenizer(vocab_size)
    tok.chat_template = "{% for m in messages %}<|pad|>{{ m['content'] }}{% endfor %}"
    return tok


def test_a_draft_must_share_the_target_token_ids():
    model, draft = tiny_model(seed=0), tiny_model(seed=1)
    speculative.check_same_tokens(model, _chat_tokenizer(), draft, _chat_tokenizer())  # same ids: accepted
    with pytest.raises(SystemExit, match="other ids"):
        speculative.check_same_tokens(model, _chat_tokenizer(), draft, _chat_tokenizer(330))
    other_pad = _chat_tokenizer()
    other_pad.pad_token = "<|endoftext|>"
    with pytest.raises(SystemExit, match="eos/pad"):
        speculative.check_same_tokens(model, _chat_tokenizer(), draft, other_pad)
    with pytest.raises(ValueError, match="vocabulary"):
        speculative.check_same_tokens(model, _chat_tokenizer(), tiny_model(vocab_size=330), _chat_tokenizer())


def test_bfloat16_weights_need_the_stock_kernel():
    with pytest.raises(SystemExit, match="--kernels stock"):
        speculative.main(["--dtype", "bfloat16", "--kernels", "oneDNN"])


def test_a_finished_unit_is_kept_on_disk_and_replayed_into_a_fresh_run(tmp_path):
    """The resume record of a (repetition, prompt) unit holds exactly what that unit measured and puts it back."""
    from benchmarks._speculative_runs import Runs, replay, unit_record
    from hf_tokens.benchmarking import PartialRun

    prompts = [("chat", torch.tensor([[1, 2]])), ("code", torch.tensor([[3, 4, 5]]))]

    def fresh() -> Runs:
        return Runs(prompts, (), [], ("stock",), {}, {}, {}, [])

    runs = fresh()
    for rep in (0, 1):
        for p in (0, 1):
            for name in ("greedy", "aded"):
                runs.seconds.setdefault((name, "stock", p), {})[rep] = 0.1 * (rep + 1) + p + (name == "aded")
    for p in (0, 1):
        runs.tokens[("greedy", "stock", p)] = (4, 4)
        runs.tokens[("aded", "stock", p)] = (4, 2 + p)
        runs.greedy[("stock", p)] = torch.tensor([[*prompts[p][1][0].tolist(), 7, 8, 9, p]])
    runs.mismatches.append("aded [stock] prompt 1 (code) from new token 2")
    partial = PartialRun(tmp_path / "r.json", {"model": "tiny"})
    for rep, p in [(0, 0), (0, 1), (1, 0)]:  # stopped before (1, 1)
        mismatches = runs.mismatches if (rep, p) == (0, 1) else []
        partial.put(f"{rep}:{p}", unit_record(runs, rep, p, mismatches))
    resumed = fresh()
    done = {replay(resumed, record) for record in PartialRun(tmp_path / "r.json", {"model": "tiny"}).units.values()}
    assert done == {(0, 0), (0, 1), (1, 0)}
    expected = {k: {r: s for r, s in v.items() if (r, k[2]) != (1, 1)} for k, v in runs.seconds.items()}
    assert resumed.seconds == expected and resumed.tokens == runs.tokens
    assert resumed.greedy.keys() == runs.greedy.keys()
    assert all(torch.equal(resumed.greedy[k], runs.greedy[k]) for k in runs.greedy)
    assert resumed.mismatches == runs.mismatches
    with pytest.raises(ValueError, match="other settings"):
        PartialRun(tmp_path / "r.json", {"model": "other"})
