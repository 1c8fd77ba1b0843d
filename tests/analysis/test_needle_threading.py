"""Needle Threading (arXiv 2411.05000): the haystacks hold what the tasks ask for at the asked depth and size, the
scoring is exact, the harness runs any cache factory, and bad input fails."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import DynamicCache

from hf_tokens.analysis.needle_threading import harness
from hf_tokens.analysis.needle_threading.harness import NeedleThreadingConfig, NeedleThreadingReport, needle_threading
from hf_tokens.analysis.needle_threading.tasks import MARK, TASKS, build_example, score
from hf_tokens.testing import tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def _haystack(ex) -> tuple[dict[str, str], list[str]]:
    body = ex.prompt.split("\n\n")[1]
    return json.loads(body), [line.split('"')[1] for line in body.splitlines()[1:-1]]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("id_chars", [32, -2])
def test_haystack_holds_the_answers_at_the_asked_size(task, id_chars, tok):
    ex = build_example(task, tok, context_tokens=1500, depth=0.5, seed=3, id_chars=id_chars, needles=3, hops=3)
    pairs, keys = _haystack(ex)
    assert len(pairs) == len(keys) == ex.pairs, "duplicate keys in the haystack"
    assert ex.context_tokens == len(tok(ex.prompt.split("\n\n")[1], add_special_tokens=False)["input_ids"])
    assert 0.9 * 1500 <= ex.context_tokens <= 1.05 * 1500
    assert ex.context_chars == len(ex.prompt.split("\n\n")[1])
    for key, value in ex.answers.items():
        if task in ("threading", "multi_threading"):
            hops, node = 0, key
            while node in pairs:
                node, hops = pairs[node], hops + 1
            assert (node, hops) == (value, 3)
        else:
            assert pairs[key] == value
    if task == "conditional":
        assert {k for k in pairs if MARK in k} == set(ex.answers)
    assert len(ex.answers) == (1 if task in ("single", "threading") else 3)


@pytest.mark.parametrize("depth", [0.0, 0.5, 1.0])
def test_needle_sits_at_its_depth(depth, tok):
    ex = build_example("single", tok, context_tokens=600, depth=depth, seed=1, id_chars=8)
    _, keys = _haystack(ex)
    where = keys.index(next(iter(ex.answers))) / (len(keys) - 1)
    assert abs(where - depth) <= 1.5 / len(keys)


def test_examples_are_seeded_and_token_counts_depend_on_the_tokenizer(tok):
    a = build_example("threading", tok, context_tokens=300, depth=0.25, seed=0)
    assert a == build_example("threading", tok, context_tokens=300, depth=0.25, seed=0)
    assert a != build_example("threading", tok, context_tokens=300, depth=0.25, seed=1)
    words = build_example("single", tok, context_tokens=300, depth=0.5, seed=0, id_chars=-3)
    assert words.context_chars / words.context_tokens != pytest.approx(a.context_chars / a.context_tokens, rel=0.05)


def test_score_is_exact_match_per_asked_value(tok):
    ex = build_example("multiple", tok, context_tokens=120, depth=0.5, seed=0, id_chars=8)
    (_, v1), (k2, v2), (k3, v3) = ex.answers.items()
    assert score(ex, f'{v1}",\n  "{k2}": "{v2}",\n  "{k3}": "{v3}"\n}}') == 1.0
    assert score(ex, f'{v1}",\n  "{k2}": "{v2}x",\n  "{k3}": "{v3}"\n}}') == pytest.approx(2 / 3)
    assert score(ex, "nothing useful") == 0.0


def test_harness_scores_an_oracle_and_uses_the_cache_factory(tok, monkeypatch):
    model = tiny_model("llama")
    made = []

    def factory(config):
        made.append(config)
        return DynamicCache(config=config)

    cfg = NeedleThreadingConfig(tasks=["single", "threading"], context_tokens=[96, 128], depths=[0.0, 1.0], repeats=1,
                                id_chars=4, max_new_tokens=3)  # fmt: skip
    plain = needle_threading(model, tok, cfg)
    cached = needle_threading(model, tok, cfg, cache=factory)
    assert len(made) == 2 * 2 * 2 and cached.cache == "factory"
    assert [r["accuracy"] for r in plain.rows] == [r["accuracy"] for r in cached.rows]
    assert len(plain.rows) == 8 and all(0 <= r["accuracy"] <= 1 for r in plain.rows)

    def oracle(model, tokenizer, prompt, n, cache):
        asked = prompt.rsplit("Answer:\n{\n", 1)[1]
        ex = next(e for e in examples if e.prompt == prompt)
        return "".join(f'  "{k}": "{v}",\n' for k, v in ex.answers.items())[len(asked) :]

    examples = [build_example(t, tok, context_tokens=n, depth=d, seed=0, id_chars=4)
                for t in cfg.tasks for n in cfg.context_tokens for d in cfg.depths]  # fmt: skip
    monkeypatch.setattr(harness, "_complete", oracle)
    report = needle_threading(model, tok, cfg)
    assert report.accuracy() == 1.0 and report.accuracy("threading", 128) == 1.0
    assert NeedleThreadingReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tasks": ["haystack"]}, "tasks"),
        ({"context_tokens": [8]}, "context_tokens"),
        ({"depths": [1.5]}, "depths"),
        ({"repeats": 0}, "repeats"),
        ({"id_chars": 2}, "id_chars"),
    ],
)
def test_bad_config_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeedleThreadingConfig(**kwargs)


def test_bad_input_is_refused(tok):
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="positions"):
        needle_threading(model, tok, context_tokens=[4096])
    with pytest.raises(ValueError, match="do not match"):
        needle_threading(model, tiny_tokenizer(400), context_tokens=[64])
    with pytest.raises(TypeError, match="cache"):
        needle_threading(model, tok, context_tokens=[64], cache=DynamicCache())
    with pytest.raises(ValueError, match="task"):
        build_example("nope", tok, context_tokens=64, depth=0.5, seed=0)
    with pytest.raises(ValueError, match="smaller than the needles"):
        build_example("multi_threading", tok, context_tokens=200, depth=0.5, seed=0)
    assert not model.training and torch.is_grad_enabled()
