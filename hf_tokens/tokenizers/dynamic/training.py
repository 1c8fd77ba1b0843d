"""Training an embedding hypernetwork for dynamic-token prefilling (decoder setting 1 of arXiv:2411.18553).

The ZeTT hypernetwork (:mod:`hf_tokens.tokenizers.zett`) is trained on tokenizers sampled from text, a different
distribution of new tokens from the ones batch-level BPE makes. This objective trains it on exactly what prefilling
asks of it: every step draws ``batch_texts`` texts, splits each into a prefix of ``prefix_chars`` characters and a
continuation of ``cont_tokens`` original tokens, merges the prefixes with :func:`~.merges.batch_bpe` up to a length
reduction drawn uniformly from ``[reduction_min, reduction_max]``, feeds the first ``loss_texts`` of them to the
frozen decoder with the hypernetwork's input embeddings for the merged tokens, and minimises the decoder's loss on
the original ids: the continuation's tokens and, with ``prefix_loss``, the first original piece of every next token
inside the prefix (what the unmerged model would predict there). Plus ``aux_weight`` times ZeTT's auxiliary loss on
``aux_tokens`` random original tokens as one-piece decompositions, which keeps the predictions for original tokens at
their own rows (see :func:`~hf_tokens.tokenizers.zett.training.zett_loss`).

An extension, not the paper's recipe: its decoder experiments apply ZeTT's hypernetwork as trained (Mistral-7B's,
on 32k-token sampled tokenizers). The output embeddings the hypernetwork predicts get no gradient from this loss but
the auxiliary one's, so a hypernetwork trained only this way is for prefilling (setting 1), not for generation over
a dynamic vocabulary (setting 2).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from hf_tokens.tokenizers.dynamic.apply import predicted_rows, prefill_loss
from hf_tokens.tokenizers.dynamic.merges import batch_bpe


@dataclass
class DynamicPrefillTrainingConfig:
    """How a hypernetwork is trained for dynamic-token prefilling (defaults sized for SmolLM2-135M on CPU)."""

    steps: int = field(default=200, metadata={"help": "optimiser steps (one batch of merges each)"})
    seconds: float | None = field(default=None, metadata={"help": "stop after this wall time too; None = no limit"})
    batch_texts: int = field(default=8, metadata={"help": "texts whose prefixes are merged together per step"})
    loss_texts: int = field(default=4, metadata={"help": "the first this many texts of the batch enter the loss"})
    prefix_chars: int = field(default=1000, metadata={"help": "characters of each text's prefix (merged)"})
    cont_tokens: int = field(default=32, metadata={"help": "original tokens of each continuation"})
    reduction_min: float = field(default=0.1, metadata={"help": "smallest target length reduction of a step"})
    reduction_max: float = field(default=0.3, metadata={"help": "largest target length reduction of a step"})
    prefix_loss: bool = field(default=True, metadata={"help": "also train on next-token targets inside the prefix"})
    aux_tokens: int = field(default=2048, metadata={"help": "original tokens per step in the auxiliary loss"})
    aux_weight: float = field(default=0.5, metadata={"help": "weight of the auxiliary embedding loss"})
    lr: float = field(default=3e-4, metadata={"help": "AdamW (peak) learning rate"})
    schedule: str = field(default="constant", metadata={"help": "constant, linear or cosine decay after warm-up"})
    warmup: float = field(default=0.0, metadata={"help": "fraction of the run with linear learning-rate warm-up"})
    corpora: tuple[str, ...] = field(
        default=("python-stdlib", "fortunes", "jargon", "licenses"),
        metadata={"help": "hf_tokens.assets.text corpora the texts are drawn from"},
    )
    seed: int = field(default=0, metadata={"help": "seed of text and reduction sampling"})

    def __post_init__(self) -> None:
        from hf_tokens.tokenizers.zett.training import check_run_fields

        self.corpora = tuple(self.corpora)
        for name in ("steps", "batch_texts", "loss_texts", "prefix_chars", "cont_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.loss_texts > self.batch_texts:
            raise ValueError(f"loss_texts ({self.loss_texts}) must be <= batch_texts ({self.batch_texts})")
        if not 0.0 < self.reduction_min <= self.reduction_max < 1.0:
            raise ValueError(
                f"need 0 < reduction_min <= reduction_max < 1, got {self.reduction_min!r}, {self.reduction_max!r}"
            )
        if isinstance(self.aux_tokens, bool) or not isinstance(self.aux_tokens, int) or self.aux_tokens < 0:
            raise ValueError(f"aux_tokens must be an int >= 0, got {self.aux_tokens!r}")
        check_run_fields(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_for_prefill(
    hypernetwork: Any,
    model: Any,
    tokenizer: Any,
    config: DynamicPrefillTrainingConfig | None = None,
    *,
    held_out: Sequence[str] = (),
    texts: Callable[[], list[str]] | None = None,
    log: Callable[[dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``hypernetwork`` in place for dynamic-token prefilling of ``model`` (frozen, unchanged on return).

    ``texts`` (a callable returning ``batch_texts`` strings per call) replaces the default stream drawn from
    ``config.corpora`` with ``held_out`` chunks cut out. Returns one log row per step.
    """
    from hf_tokens.tokenizers.zett.training import aux_loss, corpus_stream, optimise

    config = config or DynamicPrefillTrainingConfig()
    if not isinstance(config, DynamicPrefillTrainingConfig):
        raise TypeError(f"config must be a DynamicPrefillTrainingConfig, got {type(config).__name__}")
    if not callable(getattr(hypernetwork, "predict", None)) or not hasattr(hypernetwork, "source_input"):
        raise TypeError(f"hypernetwork must be a ZettHypernetwork, got {type(hypernetwork).__name__}")
    chars = config.prefix_chars + 16 * config.cont_tokens  # room for the continuation
    draw = texts or corpus_stream(config.corpora, config.batch_texts, chars, config.seed, held_out)
    rng = random.Random(config.seed)
    vocab = hypernetwork.config.source_vocab_size

    def step_loss() -> tuple[torch.Tensor, dict[str, float]]:
        batch = draw()
        if len(batch) < config.loss_texts:
            raise ValueError(f"texts() returned {len(batch)} texts, need at least loss_texts={config.loss_texts}")
        prefixes = [t[: config.prefix_chars] for t in batch]
        conts = [
            tokenizer(t[config.prefix_chars :], add_special_tokens=False).input_ids[: config.cont_tokens]
            for t in batch
        ]
        keep = [k for k in range(len(batch)) if conts[k] and prefixes[k].strip()]
        target = rng.uniform(config.reduction_min, config.reduction_max)
        dyn = batch_bpe(tokenizer, [prefixes[k] for k in keep], target_reduction=target)
        head = replace(dyn, sequences=dyn.sequences[: config.loss_texts], original=dyn.original[: config.loss_texts])
        rows, _ = predicted_rows(model, dyn, hypernetwork)
        head_conts = [conts[k] for k in keep[: config.loss_texts]]
        lm = prefill_loss(model, head, head_conts, rows, prefix_loss=config.prefix_loss)
        aux = torch.zeros(())
        if config.aux_weight and config.aux_tokens:
            old_ids = torch.tensor(rng.sample(range(vocab), min(config.aux_tokens, vocab)), dtype=torch.long)
            pred_in, pred_out = hypernetwork(*hypernetwork.pad([[int(i)] for i in old_ids]))
            aux = aux_loss(hypernetwork, pred_in, pred_out, old_ids)
        stats = {"lm": lm.item(), "aux": aux.item(), "reduction": dyn.length_reduction, "new": float(len(rows))}
        return lm + config.aux_weight * aux, stats

    return optimise(hypernetwork, model, config, step_loss, log)
