"""Active-dormant heads (arXiv 2410.13835): the per-head statistics equal hand computations from eager attention, the
model's attention implementation is restored (also on error), SmolLM2 shows the paper's phenomena, bad input fails."""

from __future__ import annotations

import json

import pytest
import torch

from hf_tokens.analysis.active_dormant_heads import report as ad
from hf_tokens.analysis.active_dormant_heads.report import (
    ActiveDormantConfig,
    ActiveDormantReport,
    active_dormant_heads,
)
from hf_tokens.testing import tiny_model, tiny_tokenizer

TEXTS = {"digits": ["12 345 6789 10 11 12 13 14 15 16"], "letters": ["the quick brown fox jumps over a lazy dog"]}


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def test_statistics_equal_hand_computation_and_settings_are_restored(tok):
    torch.set_num_threads(1)
    model = tiny_model("llama", seed=1)
    report = active_dormant_heads(model, tok, TEXTS, skip_queries=2, sink_threshold=0.3)
    assert model.config._attn_implementation == "sdpa" and not model.training
    ids = torch.tensor([tok(TEXTS["letters"][0], add_special_tokens=False)["input_ids"]])
    eager = tiny_model("llama", seed=1, attn_implementation="eager")
    values = []
    hook = eager.model.layers[1].self_attn.v_proj.register_forward_hook(lambda m, i, o: values.append(o[0]))
    with torch.no_grad():
        out = eager(ids, output_attentions=True, output_hidden_states=True)
    hook.remove()
    sink = out.attentions[1][0, :, 2:, 0].mean(-1)
    assert report.sink_share["letters"][1] == pytest.approx(sink.tolist(), abs=1e-5)
    norms = values[0].view(ids.shape[1], 2, -1).norm(dim=-1)
    assert report.value_norm_ratio["letters"][1] == pytest.approx((norms[0] / norms[1:].mean(0)).tolist(), rel=1e-4)
    h = out.hidden_states[2][0].norm(dim=-1)
    assert report.residual_peak["letters"][1] == pytest.approx(float(h[0] / h[1:].median()), rel=1e-4)
    dormant = report.dormant("letters")
    assert report.dormant_share["letters"] == pytest.approx(sum(map(sum, dormant)) / 8)
    for s in report.switching_heads:
        assert len(s["dormant_on"]) == 1
    assert ActiveDormantReport.from_dict(json.loads(json.dumps(report.to_dict(), allow_nan=False))) == report


def test_attention_implementation_is_restored_after_an_error(tok, monkeypatch):
    model = tiny_model("llama")

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ad, "_one_text", boom)
    with pytest.raises(RuntimeError, match="boom"):
        active_dormant_heads(model, tok, TEXTS)
    assert model.config._attn_implementation == "sdpa"


@pytest.mark.slow
def test_smollm2_has_sinks_residual_peaks_and_active_dormant_heads(smollm2):
    from hf_tokens.assets.text import text_chunks

    model, tok = smollm2
    texts = {
        "code": text_chunks("python-stdlib", 2, 600),
        "numbers": [" ".join(str(i * 7919 % 10**6) for i in range(80))],
    }
    report = active_dormant_heads(model, tok, texts, max_tokens=96)
    assert max(report.residual_peak["code"]) > 5, "no residual-state peak on the first token"
    assert report.dormant_share["code"] > 0.2
    assert report.switching_heads, "no head is dormant on one domain and active on the other"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"sink_threshold": 1.0}, "sink_threshold"), ({"max_tokens": 4}, "max_tokens"), ({"skip_queries": 0}, "skip")],
)
def test_bad_config_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ActiveDormantConfig(**kwargs)


def test_bad_input_is_refused(tok):
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="non-empty dict"):
        active_dormant_heads(model, tok, {})
    with pytest.raises(ValueError, match="non-empty list"):
        active_dormant_heads(model, tok, {"x": "a text, not a list"})
    with pytest.raises(ValueError, match="empty or non-string"):
        active_dormant_heads(model, tok, {"x": [""]})
    with pytest.raises(ValueError, match="needs >="):
        active_dormant_heads(model, tok, {"x": ["ab"]})
    with pytest.raises(ValueError, match="do not match"):
        active_dormant_heads(model, tiny_tokenizer(400), TEXTS)
    with pytest.raises(ValueError, match="v_proj"):
        active_dormant_heads(tiny_model("gpt2"), tok, TEXTS)
    assert model.config._attn_implementation == "sdpa"
