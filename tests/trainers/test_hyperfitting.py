"""Hyperfitting: the stopping callback reaches near-zero loss on a tiny set; the long-form metrics are right."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.trainers.hyperfitting.config import HyperfittingConfig
from hf_tokens.trainers.hyperfitting.metrics import (
    bleu,
    long_form_report,
    repeated_ngram_rate,
    self_bleu,
    type_token_ratio,
)


def test_repetition_metrics_on_known_sequences():
    assert type_token_ratio([1, 2, 3, 4]) == 1.0
    assert type_token_ratio([7, 7, 7, 7]) == 0.25
    assert repeated_ngram_rate([1, 2, 3, 4, 5, 6], n=2) == 0.0
    # 1 2 1 2 1 2: bigrams (1,2) (2,1) (1,2) (2,1) (1,2): 2 distinct of 5
    assert repeated_ngram_rate([1, 2, 1, 2, 1, 2], n=2) == pytest.approx(1 - 2 / 5)
    assert repeated_ngram_rate([1, 2], n=4) == 0.0
    with pytest.raises(ValueError, match="empty"):
        type_token_ratio([])


def test_bleu_and_self_bleu():
    seq = list(range(10, 30))
    assert bleu(seq, [seq]) == pytest.approx(1.0)
    assert bleu(seq, [list(range(100, 120))]) == 0.0
    half = seq[:10] + list(range(200, 210))
    assert 0.0 < bleu(half, [seq]) < 1.0
    assert self_bleu([seq, seq, seq]) == pytest.approx(1.0)
    assert self_bleu([list(range(i * 50, i * 50 + 20)) for i in range(3)]) == 0.0
    report = long_form_report([seq, half], [0.5, 1.5])
    assert report["mean_entropy"] == 1.0 and 0 < report["self_bleu"] < 1 and report["repeated_4gram_rate"] == 0.0


def test_config_defaults_are_the_papers_and_bad_values_fail(tmp_path):
    cfg = HyperfittingConfig(output_dir=str(tmp_path), bf16=False)
    assert cfg.num_train_epochs == 20 and cfg.learning_rate == 1e-6 and cfg.weight_decay == 0.0
    for bad in ({"target_loss": -0.1}, {"target_loss": float("inf")}, {"learning_rate": 0.0}):
        with pytest.raises(ValueError):
            HyperfittingConfig(output_dir=str(tmp_path), bf16=False, **bad)


def test_trainer_hyperfits_a_tiny_set_and_stops_at_the_target(tmp_path):
    from datasets import Dataset

    from hf_tokens._compat import no_checkpointing
    from hf_tokens.testing import tiny_model, tiny_tokenizer
    from hf_tokens.trainers.hyperfitting import HyperfittingTrainer

    model = tiny_model("llama")
    g = torch.Generator().manual_seed(0)
    rows = [torch.randint(2, 300, (32,), generator=g).tolist() for _ in range(4)]
    args = HyperfittingConfig(
        output_dir=str(tmp_path),
        num_train_epochs=200,
        learning_rate=1e-2,
        per_device_train_batch_size=4,
        logging_steps=1,
        target_loss=0.3,
        bf16=False,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        **no_checkpointing(),
    )
    trainer = HyperfittingTrainer(
        model=model, args=args, train_dataset=Dataset.from_dict({"input_ids": rows}), processing_class=tiny_tokenizer()
    )
    trainer.train()
    cb = trainer.hyperfitting
    assert cb.reached_step is not None and cb.reached_step == trainer.state.global_step < 200  # stopped early
    assert cb.losses[-1][2] <= 0.3 < cb.losses[0][2]


def test_citation_blocker_forbids_training_ngrams_only():
    from hf_tokens.trainers.hyperfitting import TrainingNgramBlocker

    blocker = TrainingNgramBlocker([[1, 2, 3, 4], [1, 2, 5, 6]], n=3)
    scores = torch.zeros(3, 8)
    ids = torch.tensor([[9, 1, 2], [7, 2, 5], [1, 2, 9]])
    out = blocker(ids, scores.clone())
    # row 0 ends in (1, 2): both training continuations 3 and 5 are blocked, nothing else
    assert torch.isinf(out[0]).nonzero().flatten().tolist() == [3, 5]
    assert torch.isinf(out[1]).nonzero().flatten().tolist() == [6]
    assert not torch.isinf(out[2]).any()
    assert torch.equal(blocker(torch.tensor([[1]]), torch.zeros(1, 8)), torch.zeros(1, 8))  # shorter than n - 1


def test_citation_blocker_in_generate_never_completes_a_training_ngram():
    from transformers import LlamaConfig, LlamaForCausalLM, LogitsProcessorList

    from hf_tokens.trainers.hyperfitting import TrainingNgramBlocker, copied_ngram_rate

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2)  # fmt: skip
    model = LlamaForCausalLM(cfg).eval()
    prompt = torch.tensor([[3, 4]])
    plain = model.generate(prompt, max_new_tokens=24, do_sample=False, pad_token_id=0)[0].tolist()
    training = [plain[:14]]  # the model's own greedy path is the "training set": plain decoding recites it
    assert copied_ngram_rate(plain[:14], training, n=4) == 1.0
    blocked = model.generate(prompt, max_new_tokens=24, do_sample=False, pad_token_id=0,
                             logits_processor=LogitsProcessorList([TrainingNgramBlocker(training, n=4)]))  # fmt: skip
    blocked = blocked[0].tolist()
    assert copied_ngram_rate(blocked, training, n=4) == 0.0
    assert blocked[:2] == [3, 4] and blocked != plain


def test_citation_blocker_rejects_bad_input():
    from hf_tokens.trainers.hyperfitting import TrainingNgramBlocker, copied_ngram_rate

    with pytest.raises(ValueError, match="n must be"):
        TrainingNgramBlocker([[1, 2, 3]], n=1)
    with pytest.raises(TypeError, match="training_sequences"):
        TrainingNgramBlocker("hello", n=3)
    with pytest.raises(TypeError, match="training_sequences"):
        TrainingNgramBlocker([[1.5, 2]], n=2)
    with pytest.raises(TypeError, match="training_sequences"):
        copied_ngram_rate([1, 2], [], n=2)
    assert copied_ngram_rate([1, 2], [torch.tensor([1, 2, 3])], n=2) == 1.0
