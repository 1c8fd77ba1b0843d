"""Long-text hacks: removal transforms keep a subsequence of the input's units, every shortening fits the token
budget of the tokenizer it is given, head / tail / head+tail keep exactly their shares, the budget-limited search
follows its schedule and resumes from its log, fine-tuning on cached frozen states equals the full model, and bad
input is refused."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from hf_tokens.assets import load_tokenizer
from hf_tokens.pipelines.long_text_hacks.pipeline import DOCUMENTS, attach_shortening, tiny_classifier
from hf_tokens.pipelines.long_text_hacks.search import LongTextHacksConfig, search_shortening
from hf_tokens.pipelines.long_text_hacks.train import _forward, fine_tune, frozen_states, predict
from hf_tokens.pipelines.long_text_hacks.transforms import (
    ENGLISH_STOPWORDS,
    REMOVALS,
    count_tokens,
    join_units,
    removal_mask,
    shorten,
    split_units,
    word_counts,
)

VOCAB = ["the", "open", "file", "of", "a", "read(2)", "write", "process", "and", ",", ".", ";", ":", "it", "is", "to",
         "be", "in", "on", "fd", "-1", "errno", "EINTR", "/usr/lib", "x86_64"]  # fmt: skip
WORDS = ["alpha", "beta", "gamma", "delta", "river", "stone", "cloud", "table", "house", "green", "paper", "light"]


def random_text(seed: int, n: int = 120) -> str:
    rng = random.Random(seed)
    seps = [" ", " ", " ", "\n", "", "  "]
    return "".join(rng.choice(VOCAB) + rng.choice(seps) for _ in range(n)).strip()


def units_of(text: str) -> list[str]:
    return [u.text for u in split_units(text)]


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(x in it for x in small)


@pytest.fixture(scope="module", params=["minilm-l6", "smollm2", "gpt2"])
def tokenizer(request):
    return load_tokenizer(request.param)


@pytest.fixture(scope="module")
def minilm():
    return load_tokenizer("minilm-l6")


def test_units_round_trip_and_never_fuse():
    text = "open(2),  read /usr/lib\n\nx86_64 -1"
    assert join_units(split_units(text)) == text
    units = split_units("a/b c")
    kept = [True, False, True, True]  # drop "/": "a" and "b" must not fuse into "ab"
    assert units_of(join_units(units, kept)) == ["a", "b", "c"]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("removal", REMOVALS)
def test_removals_return_a_subsequence_of_the_input(seed, removal):
    text = random_text(seed)
    counts = word_counts([random_text(100 + seed)])
    units = split_units(text)
    kept = removal_mask(units, [removal], counts=counts)
    out = join_units(units, kept)
    assert units_of(out) == [u.text for u, k in zip(units, kept) if k]
    assert is_subsequence(units_of(out), units_of(text))


def test_each_removal_removes_what_it_names():
    text = "The file, the FILE and a Pipe; pipe rare_word"
    units = split_units(text)
    counts = Counter({"file": 3, "pipe": 2, "the": 9, "and": 9, "a": 9})
    out = {r: units_of(join_units(units, removal_mask(units, [r], counts=counts))) for r in REMOVALS}
    assert out["stopwords"] == ["file", ",", "FILE", "Pipe", ";", "pipe", "rare_word"]
    assert out["punctuation"] == ["The", "file", "the", "FILE", "and", "a", "Pipe", "pipe", "rare_word"]
    assert out["rare"] == ["The", "file", ",", "the", "FILE", "and", "a", "Pipe", ";", "pipe"]  # count < 2 goes
    assert out["recurring"] == ["The", "file", ",", "and", "a", "Pipe", ";", "rare_word"]  # first one kept
    both = units_of(join_units(units, removal_mask(units, ["stopwords", "punctuation"])))
    assert both == ["file", "FILE", "Pipe", "pipe", "rare_word"]
    assert not {w.lower() for w in both} & ENGLISH_STOPWORDS


@pytest.mark.parametrize("budget", [1, 7, 32, 100])
@pytest.mark.parametrize("removals", [(), ("stopwords",), ("punctuation", "recurring"), tuple(REMOVALS)])
@pytest.mark.parametrize("cut", [("head", 0.5), ("tail", 0.5), ("head+tail", 0.3), ("head+tail", 1.0)])
def test_every_shortening_fits_the_budget(tokenizer, budget, removals, cut):
    counts = word_counts([random_text(7)])
    for seed in range(3):
        text = random_text(seed, 200)
        out = shorten(text, tokenizer, budget, removals=removals, truncation=cut[0], head_fraction=cut[1],
                      counts=counts)  # fmt: skip
        assert count_tokens(tokenizer, out) <= budget
        if budget >= 32:
            assert out  # a real budget keeps something
        if not removals:
            assert is_subsequence(units_of(out), units_of(text))


def test_a_text_that_fits_is_returned_whole(tokenizer):
    text = "The open() call returns a file descriptor."
    assert shorten(text, tokenizer, 200) == text
    assert shorten(text, tokenizer, 200, truncation="tail") == text


def one_token_words(tok, n):
    words = [w for w in WORDS if len(tok(w, add_special_tokens=False)["input_ids"]) == 1]
    assert len(words) >= 8
    return [words[i % len(words)] for i in range(n)]


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.8, 1.0])
def test_head_tail_keeps_exactly_its_shares(minilm, fraction):
    words = one_token_words(minilm, 90)
    text = " ".join(words)
    budget = 20
    head = round(fraction * budget)
    out = shorten(text, minilm, budget, truncation="head+tail", head_fraction=fraction)
    assert out.split() == words[:head] + words[len(words) - (budget - head) :]
    assert shorten(text, minilm, budget, truncation="head").split() == words[:budget]
    assert shorten(text, minilm, budget, truncation="tail").split() == words[-budget:]


def test_head_is_a_prefix_and_tail_a_suffix(tokenizer):
    text = random_text(3, 150)
    head = units_of(shorten(text, tokenizer, 40, truncation="head"))
    tail = units_of(shorten(text, tokenizer, 40, truncation="tail"))
    assert head and head == units_of(text)[: len(head)]
    assert tail and tail == units_of(text)[-len(tail) :]


def test_stopword_removal_brings_more_content_into_the_budget(minilm):
    text = " ".join(["the file of the process is in the table"] * 20)
    plain = shorten(text, minilm, 30)
    short = shorten(text, minilm, 30, removals=("stopwords",))
    content = {"file", "process", "table"}
    assert sum(w in content for w in short.split()) > sum(w in content for w in plain.split())


def test_bad_input_is_refused(minilm):
    with pytest.raises(ValueError, match="empty"):
        shorten("   ", minilm, 10)
    with pytest.raises(TypeError, match="text"):
        shorten(None, minilm, 10)  # type: ignore[arg-type]
    for bad in (0, -3):
        with pytest.raises(ValueError, match="budget"):
            shorten("a b c", minilm, bad)
    with pytest.raises(TypeError, match="budget"):
        shorten("a b c", minilm, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown transform"):
        shorten("a b c", minilm, 10, removals=("emoji",))
    with pytest.raises(ValueError, match="unknown truncation"):
        shorten("a b c d e f", minilm, 2, truncation="middle")
    with pytest.raises(ValueError, match="head_fraction"):
        LongTextHacksConfig(truncation="head+tail", head_fraction=1.5)
    with pytest.raises(ValueError, match="counts"):
        shorten("a b c", minilm, 10, removals=("rare",))
    with pytest.raises(ValueError, match="min_count"):
        LongTextHacksConfig(min_count=0)


def test_all_removed_falls_back_to_the_input(minilm):
    assert shorten("the of and", minilm, 10, removals=("stopwords",)) == "the of and"


# ---- the search -------------------------------------------------------------------------------------------------


def scorer(table):
    calls = []

    def evaluate(config):
        calls.append(config.name)
        return table.get(config.name, 0.1)

    return evaluate, calls


def test_search_follows_its_schedule_and_keeps_the_best():
    table = {"head": 0.5, "tail": 0.4, "head+tail@0.5": 0.6, "stopwords+head+tail@0.5": 0.7,
             "stopwords+recurring+head+tail@0.5": 0.75}  # fmt: skip
    evaluate, calls = scorer(table)
    result = search_shortening(evaluate, 126, max_trials=20)
    assert calls[:3] == ["head", "tail", "head+tail@0.5"]
    assert calls[3:7] == [f"{r}+head+tail@0.5" for r in REMOVALS]  # round 1: each removal added
    assert calls[7:10] == [f"stopwords+{r}+head+tail@0.5" for r in ("punctuation", "rare", "recurring")]
    assert result.best.name == "stopwords+recurring+head+tail@0.5" and result.score == 0.75
    assert len(calls) == 12  # round 3 tried the two left, none helped: stop
    assert [t["name"] for t in result.trials] == calls


def test_search_respects_max_trials_and_ties_keep_the_simpler():
    evaluate, calls = scorer({"head": 0.5, "tail": 0.5, "head+tail@0.5": 0.5, "stopwords+head": 0.9})
    result = search_shortening(evaluate, 62, max_trials=3)
    assert len(calls) == 3 and result.best.name == "head"  # equal scores never replace the incumbent
    result = search_shortening(scorer({"stopwords+head": 0.9})[0], 62, max_trials=4)
    assert result.best.name == "stopwords+head"


def test_search_time_budget_stops_new_trials():
    evaluate, calls = scorer({})
    search_shortening(evaluate, 62, max_trials=20, time_budget_s=1e-9)
    assert len(calls) == 1


def test_search_resumes_from_its_log(tmp_path):
    log = tmp_path / "search.json"
    table = {"head": 0.5, "head+tail@0.5": 0.6, "punctuation+head+tail@0.5": 0.8}
    first, calls = scorer(table)
    partial = search_shortening(first, 126, max_trials=4, log_path=log)
    assert len(calls) == 4 and len(partial.trials) == 4
    again, calls2 = scorer(table)
    full = search_shortening(again, 126, max_trials=20, log_path=log)
    assert calls2 == [t["name"] for t in full.trials][4:]  # the logged trials were not run again
    assert full.best.name == "punctuation+head+tail@0.5"
    with pytest.raises(ValueError, match="budget"):
        search_shortening(again, 254, log_path=log)


def test_config_round_trips_and_applies():
    config = LongTextHacksConfig(["recurring", "stopwords"], "head+tail", 0.25)
    assert config.removals == ("stopwords", "recurring")  # canonical order
    assert LongTextHacksConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown transform"):
        LongTextHacksConfig(("lemmas",))


# ---- fine-tuning on cached frozen states ------------------------------------------------------------------------


@pytest.mark.parametrize("train_layers", [0, 1, 2])
def test_frozen_states_give_the_full_models_logits(train_layers):
    model, tok = tiny_classifier()
    texts = [*DOCUMENTS, "a short one"]
    states = frozen_states(model, tok, texts, 32, train_layers)
    enc = tok(texts, truncation=True, max_length=32, padding=True, return_tensors="pt")
    with torch.no_grad():
        want = model(**enc).logits
        got = _forward(model, states, range(len(texts)), train_layers)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert len(model.bert.encoder.layer) == 2 and model.bert.embeddings.__class__.__name__ == "BertEmbeddings"


def test_fine_tune_trains_only_the_top_and_learns():
    model, tok = tiny_classifier(num_labels=2)
    texts = [f"{w} " * 12 for w in ("alpha", "beta")] * 8
    labels = [0, 1] * 8
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    states = frozen_states(model, tok, texts, 16, 1)
    losses = fine_tune(model, states, labels, train_layers=1, steps=30, lr=3e-3, batch_size=8)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith(("bert.encoder.layer.1.", "bert.pooler", "classifier")) for n in changed)
    assert any(n.startswith("bert.encoder.layer.1.") for n in changed)
    assert all(p.requires_grad for p in model.parameters())  # flags restored
    assert sum(losses[-5:]) < sum(losses[:5])
    assert predict(model, states, 1).tolist() == labels


def test_fine_tune_refuses_bad_settings():
    model, tok = tiny_classifier()
    states = frozen_states(model, tok, ["a b"], 8, 1)
    with pytest.raises(ValueError, match="train_layers"):
        fine_tune(model, states, [0], train_layers=3, steps=1)
    with pytest.raises(ValueError, match="equal length"):
        fine_tune(model, states, [0, 1], train_layers=1, steps=1)


# ---- the pipeline -----------------------------------------------------------------------------------------------


def test_pipeline_shortens_then_classifies():
    from transformers import pipeline

    model, tok = tiny_classifier()
    config = LongTextHacksConfig(("stopwords",), "head+tail", 0.5)
    clf = pipeline("long-text-classification", model=model, tokenizer=tok, max_length=20, shortening=config)
    out = clf(DOCUMENTS[0])
    assert out["shortened_text"] == config.shorten(DOCUMENTS[0], tok, 18)
    assert out["tokens"] == len(tok(out["shortened_text"])["input_ids"]) <= 20
    assert out["label"] in model.config.id2label.values() and 0 < out["score"] <= 1
    enc = tok(out["shortened_text"], return_tensors="pt")
    with torch.no_grad():
        probs = model(**enc).logits.softmax(-1)[0]
    assert out["score"] == pytest.approx(float(probs.max()), abs=1e-6)
    with pytest.raises(ValueError, match="rare"):
        clf(DOCUMENTS[0], shortening=LongTextHacksConfig(("rare",)))


def test_a_saved_classifier_brings_its_shortening_back(tmp_path):
    from transformers import AutoModelForSequenceClassification, pipeline

    model, tok = tiny_classifier()
    config = LongTextHacksConfig(("stopwords", "punctuation"), "tail")
    attach_shortening(model, config, 24).save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    clf = pipeline("long-text-classification", model=loaded, tokenizer=tok)
    out = clf(DOCUMENTS[0])
    assert clf.shortening == config and clf.max_length == 24
    assert out["shortened_text"] == config.shorten(DOCUMENTS[0], tok, 22)
    plain = pipeline("long-text-classification", model=tiny_classifier()[0], tokenizer=tok)
    assert plain.shortening == LongTextHacksConfig() and plain.max_length == 128  # the tiny model's positions
