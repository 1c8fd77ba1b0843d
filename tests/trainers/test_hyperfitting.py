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
