"""``token_stats`` against a materialised-logits oracle (each text alone, full ``log_softmax`` of the model's own
logits), with left and right padding, on the tiny architectures, heads with a softcap / logit scale, bf16, and the
bundled SmolLM2; continuation NLL, cache stepping, reference models, Min-K%++ by hand, save/load and errors.

Tiny vocabulary blocks (``small_blocks``) make every call cross several blocks of the chunked head.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from hf_tokens.analysis import TokenStats, token_stats
from hf_tokens.ops.linear_cross_entropy import reference
from hf_tokens.testing import ARCHITECTURES, tiny_model

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! 0123",
    "def main():\n    return 0\nimport torch\nfor i in range(10):\n    print(i)",
]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(reference, "DEFAULT_CHUNK_VOCAB", 64)
    monkeypatch.setattr(reference, "DEFAULT_BLOCK_ELEMENTS", 64 * 7)


@torch.no_grad()
def _oracle(model, ids):
    """Log-probs ``[T, V]`` (float64) of one unpadded row, and the model's last hidden states."""
    out = model(torch.tensor([ids]), output_hidden_states=True)
    return out.logits[0].double().log_softmax(-1), out.hidden_states[-1][0]


def _check_row(stats, i, model, ids, *, atol=2e-5, start=1, hidden_tol=1e-4):
    lp, hidden = _oracle(model, ids)
    row = stats.row(i)
    n = len(ids)
    assert row.input_ids[0].tolist() == ids
    scored = torch.arange(n - 1) + 1 >= start
    assert row.mask[0, :-1].tolist() == scored.tolist() and not bool(row.mask[0, -1])
    tgt = torch.tensor(ids[1:])
    want_logp = lp[:-1].gather(1, tgt[:, None])[:, 0]
    p = lp.exp()
    mu = (p * lp).sum(-1)[:-1]
    want = {
        "logp": want_logp,
        "entropy": -mu,
        "logp_std": ((p * lp * lp).sum(-1)[:-1] - mu**2).clamp_min(0).sqrt(),
    }
    for name, value in want.items():
        got = getattr(row, name)
        if got is None:
            continue
        torch.testing.assert_close(got[0, :-1][scored].double(), value[scored], rtol=1e-4, atol=atol, msg=name)
    if row.rank is not None:
        want_rank = (lp[:-1] > want_logp[:, None]).sum(-1) + 1
        assert torch.equal(row.rank[0, :-1][scored], want_rank[scored])
    if row.topk_ids is not None:
        k = row.topk_ids.shape[-1]
        top_lp, top_ids = lp[:-1].topk(k, -1)
        assert torch.equal(row.topk_ids[0, :-1][scored], top_ids[scored])
        torch.testing.assert_close(row.topk_logp[0, :-1][scored].double(), top_lp[scored], rtol=1e-4, atol=atol)
    if row.hidden_states is not None:
        torch.testing.assert_close(row.hidden_states[0], hidden, rtol=hidden_tol, atol=hidden_tol)
    assert int(row.target_ids[0, -1]) == -100


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("side", ["left", "right"])
def test_matches_oracle_with_padding(arch, side, tokenizer):
    model = tiny_model(arch)
    stats = token_stats(
        model, tokenizer, TEXTS, padding_side=side, logp_std=True, rank=True, topk=4, hidden_states=True
    )
    assert stats.logp.shape == stats.input_ids.shape == stats.mask.shape
    width = stats.input_ids.shape[1]
    assert stats.topk_ids.shape == (3, width, 4) and stats.hidden_states.shape == (3, width, 64)
    for i, text in enumerate(TEXTS):
        _check_row(stats, i, model, tokenizer(text).input_ids)
    real = stats.attention_mask.bool()
    assert bool((real[:, 0] if side == "right" else real[:, -1]).all())
    pad = ~stats.mask
    assert float(stats.logp[pad].abs().sum()) == 0 and bool((stats.target_ids[pad] == -100).all())


def test_input_ids_and_batches_equal_texts(tokenizer):
    model = tiny_model("llama")
    full = token_stats(model, tokenizer, TEXTS, padding_side="left", rank=True)
    batched = token_stats(model, tokenizer, TEXTS, padding_side="left", rank=True, batch_size=2)
    by_ids = token_stats(model, input_ids=full.input_ids, attention_mask=full.attention_mask, rank=True)
    for other in (batched, by_ids):
        assert torch.equal(other.mask, full.mask) and torch.equal(other.rank, full.rank)
        torch.testing.assert_close(other.logp, full.logp, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(other.entropy, full.entropy, rtol=1e-5, atol=1e-5)


def test_cheap_path_equals_summary_path(tokenizer):
    """Log-probs and entropies only go through linear_log_probs_and_entropy; with rank they go through the
    summary: both agree."""
    model = tiny_model("qwen2")
    cheap = token_stats(model, tokenizer, TEXTS)
    full = token_stats(model, tokenizer, TEXTS, rank=True)
    only_logp = token_stats(model, tokenizer, TEXTS, entropy=False)
    torch.testing.assert_close(cheap.logp, full.logp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cheap.entropy, full.entropy, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(only_logp.logp, cheap.logp)
    assert only_logp.entropy is None and cheap.rank is None and cheap.logp_std is None


def _small_config(cls, **kw):
    small = dict(
        vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, pad_token_id=1, eos_token_id=0, bos_token_id=None,
    )  # fmt: skip
    torch.manual_seed(0)
    return cls(cls.config_class(**small, **kw)).eval()


def test_softcap_and_logit_scale_heads(tokenizer):
    from transformers import CohereForCausalLM, Gemma2ForCausalLM, GraniteForCausalLM

    models = [
        _small_config(Gemma2ForCausalLM, head_dim=16, final_logit_softcapping=2.0),
        _small_config(CohereForCausalLM, logit_scale=0.5),
        _small_config(GraniteForCausalLM, logits_scaling=4.0),
    ]
    for model in models:
        stats = token_stats(model, tokenizer, TEXTS[:2], padding_side="left", logp_std=True, rank=True)
        for i, text in enumerate(TEXTS[:2]):
            _check_row(stats, i, model, tokenizer(text).input_ids)
    assert stats.metadata["head"]["scale"] == 0.25


def test_unknown_logit_transform_is_refused(tokenizer):
    from transformers import LlamaForCausalLM

    class Doubled(LlamaForCausalLM):  # transforms its logits without saying so in its config
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 2
            return out

    model = _small_config(Doubled)
    with pytest.raises(ValueError, match="transforms its logits"):
        token_stats(model, tokenizer, TEXTS[:1])
    assert not model.lm_head._forward_pre_hooks  # the capture hook is gone after the error


def test_bf16_model(tokenizer):
    model = tiny_model("llama").to(torch.bfloat16)
    stats = token_stats(model, tokenizer, TEXTS, padding_side="left", logp_std=True, hidden_states=True)
    assert stats.hidden_states.dtype == torch.bfloat16 and stats.logp.dtype == torch.float32
    for i, text in enumerate(TEXTS):
        ids = tokenizer(text).input_ids
        row = stats.row(i)
        # exact oracle: the softmax of the same bf16 hidden states through the bf16 head, in float64
        lp = (row.hidden_states[0].double() @ model.lm_head.weight.double().T).log_softmax(-1)
        tgt = torch.tensor(ids[1:])
        torch.testing.assert_close(row.logp[0, :-1].double(), lp[:-1].gather(1, tgt[:, None])[:, 0], rtol=0, atol=1e-4)
        # and close to the model's own bf16 logits
        _check_row(stats, i, model, ids, atol=0.1, hidden_tol=0.05)  # padding changes bf16 rounding


def test_continuation_start_and_nll(tokenizer):
    model = tiny_model("mistral")
    rows = [tokenizer(t).input_ids for t in TEXTS]
    starts = [3, 1, 10]
    stats = token_stats(model, tokenizer, TEXTS, continuation_start=starts, padding_side="left")
    for i, ids in enumerate(rows):
        _check_row(stats, i, model, ids, start=starts[i])
        lp, _ = _oracle(model, ids)
        want = -sum(float(lp[t, ids[t + 1]]) for t in range(starts[i] - 1, len(ids) - 1))
        assert math.isclose(float(stats.nll()[i]), want, rel_tol=1e-5)
    assert stats.num_scored.tolist() == [len(r) - s for r, s in zip(rows, starts)]


def test_cache_stepping_with_next_ids_equals_one_forward(tokenizer):
    """The KV-benchmark pattern: prefill a context scoring the first continuation token, then feed one token at a
    time, scoring the next: the summed NLL equals the continuation NLL of one forward."""
    from transformers import DynamicCache

    model = tiny_model("llama")
    ids = tokenizer(TEXTS[2]).input_ids
    ctx, cont = ids[:12], ids[12:]
    cache = DynamicCache(config=model.config)
    first = token_stats(
        model, input_ids=torch.tensor([ctx]), next_ids=[cont[0]], continuation_start=len(ctx), cache=cache
    )
    assert first.num_scored.tolist() == [1] and int(first.target_ids[0, -1]) == cont[0]
    nll = float(first.nll()[0])
    for t in range(len(cont) - 1):
        step = token_stats(
            model, input_ids=torch.tensor([[cont[t]]]), next_ids=[cont[t + 1]], cache=cache,
            position_ids=torch.tensor([[len(ctx) + t]]), entropy=False,
        )  # fmt: skip
        nll += float(step.nll()[0])
    whole = token_stats(model, input_ids=torch.tensor([ids]), continuation_start=len(ctx))
    assert math.isclose(nll, float(whole.nll()[0]), rel_tol=1e-5)


def test_reference_model_cross_statistics(tokenizer):
    performer, observer = tiny_model("llama", seed=1), tiny_model("qwen2", seed=2, hidden_size=32)
    stats = token_stats(performer, tokenizer, TEXTS, padding_side="right", reference_model=observer, entropy=False)
    for i, text in enumerate(TEXTS):
        ids = tokenizer(text).input_ids
        lp, _ = _oracle(performer, ids)
        q = observer(torch.tensor([ids])).logits[0].double().softmax(-1)
        mean = (q * lp).sum(-1)[:-1]
        std = ((q * lp * lp).sum(-1)[:-1] - mean**2).clamp_min(0).sqrt()
        row = stats.row(i)
        torch.testing.assert_close(row.cross_logp_mean[0, :-1].double(), mean, rtol=1e-4, atol=2e-5)
        torch.testing.assert_close(row.cross_logp_std[0, :-1].double(), std, rtol=1e-4, atol=2e-5)
    assert stats.metadata["reference_model"] == "Qwen2ForCausalLM"


def test_min_k_plus_plus_by_hand(tokenizer):
    """A head with zero weights and bias (0, ln 1/2, ln 1/2, -1e4 ...) predicts p = (1/2, 1/4, 1/4) at every
    position: mu = -1.5 ln 2, sigma = 0.5 ln 2, so the token of p = 1/2 scores +1 and a token of p = 1/4 scores -1;
    Min-K%++ at k = 50% of [+1, -1, -1, +1] is -1, at 100% it is 0."""
    model = tiny_model("llama")
    head = torch.nn.Linear(64, 320, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-1e4)
        head.bias[:3] = torch.tensor([0.0, math.log(0.5), math.log(0.5)])
    model.lm_head = head
    stats = token_stats(model, input_ids=torch.tensor([[5, 0, 1, 2, 0]]), logp_std=True)
    ln2 = math.log(2)
    torch.testing.assert_close(stats.values("logp_mean", 0), torch.full((4,), -1.5 * ln2))
    torch.testing.assert_close(stats.values("logp_std", 0), torch.full((4,), 0.5 * ln2))
    scores = stats.values("normalized_logp", 0)
    torch.testing.assert_close(scores, torch.tensor([1.0, -1.0, -1.0, 1.0]))
    lowest = scores.sort().values
    assert float(lowest[:2].mean()) == pytest.approx(-1.0, abs=1e-5)
    assert float(stats.mean("normalized_logp")[0]) == pytest.approx(0.0, abs=1e-5)


def test_save_load_round_trip(tmp_path, tokenizer):
    model = tiny_model("gpt2").to(torch.bfloat16)
    stats = token_stats(model, tokenizer, TEXTS, logp_std=True, rank=True, topk=3, hidden_states=True)
    path = stats.save(tmp_path / "sub" / "feats.safetensors")
    assert sorted(p.name for p in path.parent.iterdir()) == ["feats.safetensors"]  # no temporary left
    back = TokenStats.load(path)
    assert back.metadata == stats.metadata and back.metadata["options"]["topk"] == 3
    for name, value in stats.tensors().items():
        assert torch.equal(getattr(back, name), value), name
    assert back.cross_logp_mean is None and back.hidden_states.dtype == torch.bfloat16
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="not a TokenStats file"):
        TokenStats.load(tmp_path / "other.safetensors")


def test_helpers(tokenizer):
    stats = token_stats(tiny_model("llama"), tokenizer, TEXTS, padding_side="left", topk=2)
    row = stats.row(1)
    assert row.input_ids.shape == (1, len(tokenizer(TEXTS[1]).input_ids)) and len(stats) == 3
    torch.testing.assert_close(stats.mean("logp"), -stats.nll() / stats.num_scored)
    torch.testing.assert_close(stats.topk_probs, stats.topk_logp.exp())
    assert torch.equal(stats.values("logp", 1), row.logp[0][row.mask[0]])
    with pytest.raises(ValueError, match="logp_std was not computed"):
        stats.normalized_logp
    with pytest.raises(ValueError, match="mean\\(\\) reduces"):
        stats.mean("topk_logp")
    with pytest.raises(ValueError, match="unknown field"):
        stats.values("nope", 0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"texts": ["ok text", ""]}, ValueError, r"texts\[1\] is empty"),
        ({"texts": ["ok text", "a"]}, ValueError, "row 1 has 1 token"),
        ({"texts": "a str"}, TypeError, "non-empty list of str"),
        ({"texts": ["ok text"], "topk": -1}, ValueError, "topk"),
        ({"texts": ["ok text"], "topk": 321}, ValueError, "topk"),
        ({"texts": ["ok text"], "temperature": 0}, ValueError, "temperature"),
        ({"texts": ["ok text"], "rank": "yes"}, TypeError, "rank must be a bool"),
        ({"texts": ["ok text"], "padding_side": "middle"}, ValueError, "padding_side"),
        ({"texts": ["ok text"], "batch_size": 0}, ValueError, "batch_size"),
        ({"texts": ["ok text"], "continuation_start": 0}, ValueError, "continuation_start must be >= 1"),
        ({"texts": ["ok text"], "continuation_start": 50}, ValueError, "leaves no token"),
        ({"texts": ["ok text", "more"], "continuation_start": [1]}, ValueError, "one value per row"),
        ({"texts": ["ok text"], "next_ids": [320]}, ValueError, "next_ids must lie"),
        ({"texts": ["ok text"], "input_ids": torch.ones(1, 3, dtype=torch.long)}, ValueError, "either texts"),
        ({"input_ids": torch.tensor([[1, 400]])}, ValueError, "input_ids must lie"),
        ({"input_ids": torch.ones(1, 3)}, TypeError, "integer tensor"),
        (
            {"input_ids": torch.ones(1, 4, dtype=torch.long), "attention_mask": torch.tensor([[1, 0, 1, 1]])},
            ValueError,
            "contiguous",
        ),
        (
            {"input_ids": torch.ones(1, 4, dtype=torch.long), "attention_mask": torch.tensor([[0, 0, 0, 1]])},
            ValueError,
            "row 0 has 1 token",
        ),
        ({"texts": ["ok text"], "cache": object()}, ValueError, "unpadded rows only"),
    ],
)
def test_bad_input(kwargs, error, match, tokenizer):
    model = tiny_model("llama")
    with pytest.raises(error, match=match):
        token_stats(model, tokenizer, **kwargs)


def test_tokenizer_that_does_not_match_the_model(tokenizer):
    with pytest.raises(ValueError, match="head only 200"):
        token_stats(tiny_model("llama", vocab_size=200), tokenizer, ["ok text"])
    with pytest.raises(ValueError, match="less than half"):
        token_stats(tiny_model("llama", vocab_size=1000), tokenizer, ["ok text"])
    other = tiny_model("qwen2", vocab_size=200)
    with pytest.raises(ValueError, match="share the model's vocabulary"):
        token_stats(tiny_model("llama"), tokenizer, ["ok text"], reference_model=other)


def test_package_import_is_light_and_both_spellings_work():
    code = (
        "import sys, hf_tokens.analysis as a; heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "assert not heavy, heavy; from hf_tokens.analysis.token_stats import token_stats as f; "
        "from hf_tokens.analysis import token_stats as g; assert callable(f) and callable(g)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_smollm2_matches_its_logits(smollm2):
    model, tok = smollm2
    texts = ["The capital of France is Paris.", "def add(a, b):\n    return a + b"]
    stats = token_stats(model, tok, texts, padding_side="left", logp_std=True, rank=True, topk=5)
    for i, text in enumerate(texts):
        _check_row(stats, i, model, tok(text).input_ids, atol=1e-4)
    assert stats.metadata["head"]["vocab_size"] == 49152
