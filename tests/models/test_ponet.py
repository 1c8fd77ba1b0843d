"""PoNet (arXiv 2110.02442): pooling granularities, padding, heads, and linear memory in the sequence length."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

from hf_tokens.benchmarking import peak_allocated_bytes
from hf_tokens.models.ponet.configuration import PoNetConfig
from hf_tokens.models.ponet.contract import tiny_config
from hf_tokens.models.ponet.modeling import (
    PoNetForSequenceClassification,
    PoNetModel,
    local_max,
    register_ponet,
    segment_max,
)


def test_segment_and_local_max_pool_the_right_tokens():
    x = torch.randn(2, 11, 5)
    seg = segment_max(x, 4)  # segments [0..3], [4..7], [8..10]
    for i in range(11):
        start = i // 4 * 4
        torch.testing.assert_close(seg[:, i], x[:, start : start + 4].amax(1))
    loc = local_max(x, 3)
    for i in range(11):
        torch.testing.assert_close(loc[:, i], x[:, max(0, i - 1) : i + 2].amax(1))


def test_each_granularity_reaches_only_its_span():
    """A change at token 0 reaches token 1 (local window), the rest of its segment (segment max) and, through the
    global aggregation, every token; with GA switched off (zero dense_o) a token beyond segment and window is
    unaffected."""
    torch.manual_seed(0)
    model = PoNetModel(tiny_config(num_hidden_layers=1, segment_size=4)).eval()
    ids = torch.randint(2, 300, (1, 12))
    changed = ids.clone()
    changed[0, 0] = 301
    mixer = model.layers[0].mixer
    with torch.no_grad():
        mixer.dense_o.weight.zero_()
        mixer.dense_o.bias.zero_()  # o_i = 0: (g' + s_i) * o_i vanishes, only local max-pooling mixes tokens
        a, b = model(ids).last_hidden_state, model(changed).last_hidden_state
    moved = (a - b).abs().amax(-1)[0]
    assert moved[1] > 0 and torch.all(moved[2:] == 0)


def test_padding_is_invisible():
    torch.manual_seed(0)
    register_ponet()
    model = AutoModelForMaskedLM.from_config(tiny_config()).eval()
    ids = torch.randint(2, 300, (1, 13))
    padded = torch.cat([ids, torch.zeros(1, 6, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 13), torch.zeros(1, 6)], 1).long()
    with torch.no_grad():
        alone = model(ids).logits
        both = model(padded, attention_mask=mask).logits
    torch.testing.assert_close(both[:, :13], alone, rtol=1e-5, atol=1e-5)


def test_heads_train_and_auto_classes_map():
    register_ponet()
    config = tiny_config(num_labels=3)
    assert type(AutoModel.from_config(config)) is PoNetModel
    clf = AutoModelForSequenceClassification.from_config(config)
    assert type(clf) is PoNetForSequenceClassification
    ids = torch.randint(2, 300, (4, 16))
    out = clf(ids, labels=torch.tensor([0, 1, 2, 1]))
    out.loss.backward()
    assert out.logits.shape == (4, 3) and clf.classifier.weight.grad is not None
    mlm = AutoModelForMaskedLM.from_config(config)
    labels = torch.full_like(ids, -100)
    labels[:, 3] = ids[:, 3]
    loss = mlm(ids, labels=labels).loss
    loss.backward()
    assert torch.isfinite(loss) and mlm.ponet.layers[0].mixer.dense_segment.weight.grad.abs().sum() > 0
    assert mlm.decoder.weight.data_ptr() == mlm.ponet.word_embeddings.weight.data_ptr()  # tied


def test_memory_is_linear_in_length():
    """PoNet's forward memory grows ~4x from 512 to 2048 tokens (linear); attention's [L, L] scores would grow 16x."""
    torch.manual_seed(0)
    model = PoNetModel(tiny_config(max_position_embeddings=2048, num_hidden_layers=1)).eval()

    def peak(length: int) -> int:
        ids = torch.randint(2, 300, (1, length))

        def run() -> None:
            with torch.no_grad():
                model(ids)

        return peak_allocated_bytes(run)

    ratio = peak(2048) / peak(512)
    assert 2.5 < ratio < 6, ratio


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_size": 30, "num_attention_heads": 4}, "multiple of num_attention_heads"),
        ({"local_window": 4}, "local_window"),
        ({"segment_size": 0}, "segment_size"),
    ],
)
def test_bad_config_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PoNetConfig(**kwargs)


def test_too_long_input_is_rejected():
    model = PoNetModel(tiny_config(max_position_embeddings=16))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.ones(1, 17, dtype=torch.long))


def _seed_file(path, ponet_acc, bert_acc):
    rows = [
        {"method": "ponet", "metric": "accuracy", "value": ponet_acc, "baseline_value": bert_acc},
        {"method": "bert-sdpa", "metric": "accuracy", "value": bert_acc},
        {"method": "ponet", "metric": "mlm_loss", "value": 2.0, "baseline_value": 3.0},
        {"method": "bert-sdpa", "metric": "mlm_loss", "value": 3.0},
    ]
    path.write_text(json.dumps({"rows": rows}))
    return path


def test_quality_summary_over_seeds(tmp_path):
    from benchmarks.ponet_quality import summarise

    files = [
        _seed_file(tmp_path / f"s{i}.json", p, b) for i, (p, b) in enumerate([(0.8, 0.9), (0.9, 0.6), (0.9, 0.9)])
    ]
    data = summarise(files, tmp_path / "out.json")
    row = next(r for r in data["rows"] if r["metric"] == "accuracy_over_seeds")
    assert row["value"] == pytest.approx(0.8667, abs=1e-4) and row["baseline_value"] == pytest.approx(0.8)
    assert row["per_seed"] == [0.8, 0.9, 0.9] and row["ahead"] == 1 and row["n_seeds"] == 3
    # differences -0.1, +0.3, 0: mean 0.0667, sd 0.2082, t(2) = 4.303 -> half-width 0.5172
    lo, hi = row["diff_ci95"]
    assert row["diff_mean"] == pytest.approx(0.0667, abs=1e-4)
    assert lo == pytest.approx(0.0667 - 0.5172, abs=1e-3) and hi == pytest.approx(0.0667 + 0.5172, abs=1e-3)
    assert json.loads((tmp_path / "out.json").read_text())["rows"] == data["rows"]
    with pytest.raises(SystemExit, match="2 to 10"):
        summarise(files[:1], None)
