"""The MEGABYTE peer arm of benchmarks/token_free.py (benchmarks/_token_free_megabyte.py): strictly causal over bytes
across patch boundaries (what a byte LM scored by bits per byte relies on), trains on the experiment's own loop,
generates greedily, and refuses bad configs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("MEGABYTE_pytorch")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _token_free_megabyte import MegabyteLM

from hf_tokens.models.lm_training import TrainingBudget, stream_nll, train_on_stream

TINY = {"dims": (32, 16), "depths": (1, 1), "patch_size": 4, "max_len": 32, "heads": 2, "dim_head": 8}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return MegabyteLM(**TINY).eval()


def test_logits_at_a_byte_depend_only_on_the_bytes_up_to_it(model):
    ids = torch.tensor([list(b"the cat sat on the mat, it s")])  # 28 bytes: 7 patches of 4
    with torch.no_grad():
        ref = model(input_ids=ids).logits
    assert ref.shape == (1, 28, 256)
    for t in (0, 3, 4, 5, 15, 27):  # first byte, a patch's last and first bytes, mid-patch, the end
        changed = ids.clone()
        changed[0, t] = (changed[0, t] + 1) % 256
        with torch.no_grad():
            out = model(input_ids=changed).logits
        torch.testing.assert_close(out[0, :t], ref[0, :t], rtol=0, atol=1e-5)
        assert not torch.allclose(out[0, t:], ref[0, t:], atol=1e-5)  # and the change reaches what follows


def test_a_partial_last_patch_scores_like_the_full_window(model):
    ids = torch.tensor([list(b"abcdefghijklmnopqrstuvwxyz012345")])  # 32 bytes
    with torch.no_grad():
        full = model(input_ids=ids).logits
        part = model(input_ids=ids[:, :27]).logits  # padded inside to 28
    torch.testing.assert_close(part[0], full[0, :27], rtol=0, atol=1e-5)


def test_trains_a_few_steps_on_the_experiments_loop():
    torch.manual_seed(0)
    model = MegabyteLM(**TINY)
    stream = torch.tensor(list(b"abcabdabcabdabcabd " * 40))
    before = float(stream_nll(model, stream, seq_len=32).mean())
    losses = train_on_stream(
        model, stream, seq_len=32, budget=TrainingBudget(steps=60, batch_size=8, warmup=2, lr=1e-2)
    )
    after = float(stream_nll(model, stream, seq_len=32).mean())
    assert len(losses) == 60 and all(torch.isfinite(torch.tensor(losses)))
    assert after < 0.5 * math.log(5), (before, after)  # far below the unigram of its 5 symbols
    windows = stream[:33].repeat(2, 1)
    out = model(input_ids=windows[:, :-1], labels=windows[:, :-1])
    assert out.loss is not None and out.loss.ndim == 0


def test_greedy_generate_appends_the_argmax_bytes(model):
    prompt = torch.tensor([list(b"hello wor")])
    out = model.generate(prompt, max_new_tokens=30)  # runs past max_len: the context keeps its last 32 bytes
    assert out.shape == (1, 39) and torch.equal(out[:, :9], prompt)
    with torch.no_grad():
        assert int(out[0, 9]) == int(model(input_ids=prompt).logits[0, -1].argmax())
        assert int(out[0, 38]) == int(model(input_ids=out[:, 6:38]).logits[0, -1].argmax())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dims": (32,)}, "dims"),
        ({"depths": (1, 0)}, "depths"),
        ({"patch_size": 0}, "patch_size"),
        ({"max_len": 30}, "max_len"),
    ],
)
def test_bad_configs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MegabyteLM(**{**TINY, **kwargs})


def test_bad_inputs_are_refused(model):
    with pytest.raises(TypeError, match="input_ids"):
        model(input_ids=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="max_len"):
        model(input_ids=torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="bytes"):
        model(input_ids=torch.full((1, 4), 256))
    with pytest.raises(ValueError, match="do_sample"):
        model.generate(torch.zeros(1, 4, dtype=torch.long), do_sample=True)


def test_a_megabyte_only_run_reads_the_baselines_it_does_not_retrain(tmp_path):
    import json

    from _token_free_models import _baselines_from

    rows = [
        {"method": "subword", "metric": "bits_per_byte", "value": 2.5, "baseline": None, "total_params": 9,
         "non_embedding_params": 3},
        {"method": "subword", "metric": "bits_per_byte_vs_bytes", "value": 2.5, "baseline": "bytes"},
        {"method": "subword", "metric": "next_word_acc", "value": 0.1, "baseline": None},
        {"method": "subword", "metric": "next_word_acc_rare", "value": 0.0, "baseline": None},
        {"method": "subword", "metric": "bytes_per_s", "value": 100.0, "baseline": "bytes"},
        {"method": "subword", "metric": "bpb_change_typo", "value": 0.2, "baseline": "subword", "perturbed_bpb": 3.0},
        {"method": "subword", "metric": "bpb_change_case", "value": 0.1, "baseline": "subword", "perturbed_bpb": 2.75},
    ]  # fmt: skip
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"rows": rows}))
    got = _baselines_from(path, ["bytes", "megabyte"])
    assert set(got) == {"subword"}
    assert got["subword"]["bpb"] == 2.5 and got["subword"]["bpb_typo"] == 3.0 and got["subword"]["bpb_case"] == 2.75
    assert got["subword"]["bytes_per_s"] == 100.0 and got["subword"]["loaded"]
    with pytest.raises(SystemExit, match="no bytes row"):
        _baselines_from(path, ["megabyte"])  # the bytes baseline is not in that file
