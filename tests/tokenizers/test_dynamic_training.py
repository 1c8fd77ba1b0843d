"""Training an embedding hypernetwork for dynamic-token prefilling (hf_tokens.tokenizers.dynamic.training)."""

from __future__ import annotations

import copy

import pytest
import torch

from hf_tokens.testing import tiny_model, tiny_tokenizer
from hf_tokens.tokenizers.dynamic.apply import continuation_nll, predicted_rows, prefill_loss
from hf_tokens.tokenizers.dynamic.merges import batch_bpe
from hf_tokens.tokenizers.dynamic.training import DynamicPrefillTrainingConfig, train_for_prefill
from hf_tokens.tokenizers.zett import ZettHypernetwork
from hf_tokens.tokenizers.zett.training import corpus_stream

ARCH = {"hidden_size": 32, "num_heads": 2, "intermediate_size": 64}
PREFIXES = [
    "The quick brown fox jumps over the lazy dog. The dogmatic foxes jumped over quicker dogs.",
    "Foxes and dogs: the quickest brownies, the lazier dogs; quick foxes, lazy dogs",
]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def test_loss_with_zero_merges_is_the_plain_language_model_loss(tok):
    torch.manual_seed(0)
    model = tiny_model("llama").eval()
    conts = [tok(" and so on, again and again.", add_special_tokens=False).input_ids] * 2
    batch = batch_bpe(tok, PREFIXES, merges=0)
    rows = model.get_input_embeddings().weight[:0]
    with torch.no_grad():
        got = prefill_loss(model, batch, conts, rows)
        only_cont = prefill_loss(model, batch, conts, rows, prefix_loss=False)
    logits, targets = [], []
    for prefix, cont in zip(batch.original, conts, strict=True):
        ids = prefix + cont
        with torch.no_grad():
            logits.append(model(torch.tensor([ids])).logits[0, :-1])
        targets.append(torch.tensor(ids[1:]))
    expected = torch.nn.functional.cross_entropy(torch.cat(logits), torch.cat(targets))
    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    # continuation only: the token-weighted mean of continuation_nll (equal lengths here, so its plain mean)
    from hf_tokens.tokenizers.dynamic.predictor import MeanPiecesPredictor

    per_text = continuation_nll(model, batch, conts, MeanPiecesPredictor(model))
    assert float(only_cont) == pytest.approx(sum(per_text) / len(per_text), rel=1e-5)


def test_prefix_targets_are_the_first_pieces_of_merged_tokens(tok):
    """With merges, the loss reads predicted rows and targets the next token's first original piece."""
    torch.manual_seed(0)
    model = tiny_model("llama").eval()
    batch = batch_bpe(tok, PREFIXES, merges=20)
    assert batch.decompositions
    conts = [tok(" the end", add_special_tokens=False).input_ids] * 2
    rows = torch.zeros(len(batch.decompositions), model.config.hidden_size, requires_grad=True)
    loss = prefill_loss(model, batch, conts, rows)
    loss.backward()
    assert rows.grad is not None and rows.grad.abs().sum() > 0
    one = torch.randn(len(batch.decompositions), model.config.hidden_size)
    with torch.no_grad():
        assert float(prefill_loss(model, batch, conts, one)) != pytest.approx(float(loss), rel=1e-4)


def test_training_lowers_the_prefill_loss_on_held_out_batches_and_leaves_the_model_alone(tok):
    torch.manual_seed(0)
    model = tiny_model("llama")
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    state = copy.deepcopy(model.state_dict())
    net = ZettHypernetwork.for_model(model, tok, **ARCH)
    cfg = DynamicPrefillTrainingConfig(
        steps=25, batch_texts=4, loss_texts=4, prefix_chars=300, cont_tokens=16, lr=3e-3, aux_tokens=64,
        reduction_min=0.2, reduction_max=0.4, corpora=("fortunes", "jargon"),
    )  # fmt: skip
    held = corpus_stream(cfg.corpora, 4, 600, seed=99)
    evals = [held() for _ in range(2)]

    def loss_on(texts):
        dyn = batch_bpe(tok, [t[:300] for t in texts], target_reduction=0.3)
        conts = [tok(t[300:], add_special_tokens=False).input_ids[:16] for t in texts]
        with torch.no_grad():
            return float(prefill_loss(model, dyn, conts, predicted_rows(model, dyn, net)[0]))

    before = sum(loss_on(t) for t in evals)
    history = train_for_prefill(net, model, tok, cfg, held_out=[t for batch in evals for t in batch])
    after = sum(loss_on(t) for t in evals)
    assert len(history) == 25 and not net.training
    assert after < before - 0.3, (before, after)
    assert all(0.0 < row["reduction"] < 1.0 for row in history)
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_clear_errors_and_no_model_left_frozen(tok):
    model = tiny_model("llama")
    net = ZettHypernetwork.for_model(model, tok, **ARCH)
    with pytest.raises(ValueError, match="loss_texts"):
        DynamicPrefillTrainingConfig(batch_texts=2, loss_texts=3)
    with pytest.raises(ValueError, match="reduction_min"):
        DynamicPrefillTrainingConfig(reduction_min=0.5, reduction_max=0.2)
    with pytest.raises(ValueError, match="schedule"):
        DynamicPrefillTrainingConfig(schedule="step")
    with pytest.raises(TypeError, match="config"):
        train_for_prefill(net, model, tok, {"steps": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hypernetwork"):
        train_for_prefill(object(), model, tok)
    flags = [p.requires_grad for p in model.parameters()]
    cfg = DynamicPrefillTrainingConfig(steps=2, batch_texts=2, loss_texts=2, prefix_chars=200, cont_tokens=8)
    with pytest.raises(ValueError, match="texts"):
        train_for_prefill(net, model, tok, cfg, texts=lambda: ["only one text " * 30])
    assert [p.requires_grad for p in model.parameters()] == flags and not net.training
