"""Sorted fine-tuning (SoFT, the training recipe of S2D, arXiv:2407.01955; from SortedNet): one model is trained so
that every nested sub-network — its first ``k`` decoder layers, then the *shared* final norm and LM head — is a
usable language model, for every ``k`` in ``depths``.

The loss of one batch is the mean over ``depths`` of the next-token cross-entropy of each sub-network, all read from
one forward pass of the full model (the hidden state after layer ``k`` goes through the final norm and the head).
Deviations, named: the paper sums the sub-network losses; we average them (the same gradient direction, the
learning rate rescaled by ``len(depths)``), with optional per-depth ``weights``. The paper fine-tunes on ShareGPT
with FastChat; :func:`sorted_fine_tune` is a plain AdamW loop over the library's offline text (windows of
``seq_len`` tokens) within a step and wall-clock budget, so it runs on a CPU.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from hf_tokens.generation.s2d.s2d import check_depths, default_depths, num_layers


@dataclass
class SortedFineTuningConfig:
    """Settings of sorted fine-tuning (SoFT, arXiv:2407.01955)."""

    depths: list[int] | None = field(
        default=None, metadata={"help": "layer counts of the trained sub-networks (None: ~1/3, 2/3 and all layers)"}
    )
    weights: list[float] | None = field(
        default=None, metadata={"help": "per-depth loss weights (None: equal; the loss is their weighted mean)"}
    )
    learning_rate: float = field(default=5e-5, metadata={"help": "AdamW learning rate"})
    max_steps: int = field(default=20, metadata={"help": "optimizer steps (the CPU budget, with max_seconds)"})
    max_seconds: float = field(default=0.0, metadata={"help": "stop after this many seconds (0: no time limit)"})
    batch_size: int = field(default=2, metadata={"help": "windows per step"})
    seq_len: int = field(default=64, metadata={"help": "tokens per training window"})
    corpus: str = field(default="python-stdlib", metadata={"help": "offline corpus of hf_tokens.assets.text"})
    seed: int = field(default=0, metadata={"help": "seed of the data order"})

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.seq_len < 2:
            raise ValueError(f"seq_len must be >= 2 (a next-token target), got {self.seq_len}")
        if not isinstance(self.learning_rate, (int, float)) or self.learning_rate < 0:
            raise ValueError(f"learning_rate must be a number >= 0, got {self.learning_rate!r}")
        if not isinstance(self.max_seconds, (int, float)) or self.max_seconds < 0:
            raise ValueError(f"max_seconds must be a number >= 0 (0: no limit), got {self.max_seconds!r}")
        if self.depths is not None:
            self.depths = list(check_depths(self.depths, None))
        if self.weights is not None:
            n = len(self.depths) if self.depths is not None else None
            if not isinstance(self.weights, (list, tuple)) or any(
                not isinstance(w, (int, float)) or w < 0 for w in self.weights
            ):
                raise ValueError(f"weights must be a list of numbers >= 0, got {self.weights!r}")
            if (n is not None and len(self.weights) != n) or sum(self.weights) <= 0:
                raise ValueError(f"weights needs one value >= 0 per depth and a positive sum, got {self.weights}")

    def resolve(self, model: Any) -> tuple[tuple[int, ...], tuple[float, ...]]:
        total = num_layers(model)
        depths = check_depths(self.depths, total) if self.depths is not None else default_depths(total)
        weights = tuple(self.weights) if self.weights is not None else (1.0,) * len(depths)
        if len(weights) != len(depths):
            raise ValueError(f"weights needs one value per depth {list(depths)}, got {list(weights)}")
        return depths, tuple(float(w) for w in weights)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def final_norm(model: Any) -> Any:
    """The final norm applied before the LM head (Llama-style ``model.norm`` or GPT-2 ``transformer.ln_f``)."""
    if hasattr(model, "model") and hasattr(model.model, "norm"):
        return model.model.norm
    if hasattr(model, "transformer") and hasattr(model.transformer, "ln_f"):
        return model.transformer.ln_f
    raise TypeError(f"sorted fine-tuning supports Llama-style and GPT-2 models, got {type(model).__name__}")


def sub_network_logits(model: Any, input_ids: torch.Tensor, depths: tuple[int, ...]) -> list[torch.Tensor]:
    """Logits of every sub-network in ``depths`` from one forward of ``model``."""
    total = num_layers(model)
    depths = check_depths(list(depths), total)
    out = model(input_ids=input_ids, output_hidden_states=True, use_cache=False)
    norm, head = final_norm(model), model.get_output_embeddings()
    # hidden_states[k] is the output of layer k (0: embeddings); the last entry is already normed, so the full
    # depth uses the model's own logits.
    return [out.logits if d == total else head(norm(out.hidden_states[d])) for d in depths]


def sorted_lm_loss(
    model: Any, input_ids: torch.Tensor, depths: tuple[int, ...], weights: tuple[float, ...] | None = None
) -> tuple[torch.Tensor, list[float]]:
    """The SoFT loss (weighted mean of the sub-networks' next-token cross-entropies) and each depth's loss."""
    weights = weights if weights is not None else (1.0,) * len(depths)
    if len(weights) != len(depths):
        raise ValueError(f"weights needs one value per depth, got {len(weights)} for {len(depths)} depths")
    target = input_ids[:, 1:].reshape(-1)
    losses = []
    for logits in sub_network_logits(model, input_ids, depths):
        losses.append(F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), target))
    total = sum(w * loss for w, loss in zip(weights, losses)) / sum(weights)
    return total, [float(loss.detach()) for loss in losses]  # type: ignore[return-value]


def training_windows(tokenizer: Any, config: SortedFineTuningConfig, count: int) -> torch.Tensor:
    """``count`` windows of ``seq_len`` token ids from the offline corpus (deterministic in ``seed``)."""
    from hf_tokens.assets.text import text_chunks

    chunks = text_chunks(config.corpus, 2 * count, chars=config.seq_len * 8, seed=config.seed)
    rows = []
    for chunk in chunks:  # a chunk of few, long tokens (e.g. whitespace runs) is skipped
        ids = tokenizer(chunk, add_special_tokens=False)["input_ids"][: config.seq_len]
        if len(ids) == config.seq_len:
            rows.append(ids)
        if len(rows) == count:
            break
    if len(rows) < count:
        raise ValueError(f"corpus {config.corpus!r} has fewer than {count} windows of seq_len={config.seq_len} tokens")
    return torch.tensor(rows, dtype=torch.long)


def sorted_fine_tune(
    model: Any, tokenizer: Any, config: SortedFineTuningConfig | None = None, *, windows: torch.Tensor | None = None
) -> dict[str, Any]:
    """Train ``model`` in place with the SoFT loss; returns the per-depth loss history and the budget used.

    ``windows`` (``[n, seq_len]`` token ids) replaces the corpus windows (tests use it with a tiny tokenizer).
    """
    config = config or SortedFineTuningConfig()
    depths, weights = config.resolve(model)
    if windows is None:
        windows = training_windows(tokenizer, config, config.max_steps * config.batch_size)
    if not isinstance(windows, torch.Tensor) or windows.dim() != 2 or windows.shape[1] < 2:
        raise ValueError("windows must be a [n, seq_len >= 2] LongTensor of token ids")
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    history: list[list[float]] = []
    was_training = model.training
    model.train()
    start = time.perf_counter()
    try:
        for step in range(config.max_steps):
            rows = [(step * config.batch_size + j) % windows.shape[0] for j in range(config.batch_size)]
            loss, per_depth = sorted_lm_loss(model, windows[rows].to(device), depths, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history.append(per_depth)
            if config.max_seconds and time.perf_counter() - start >= config.max_seconds:
                break
    finally:
        model.train(was_training)
        optimizer.zero_grad(set_to_none=True)
    return {
        "depths": list(depths),
        "steps": len(history),
        "seconds": time.perf_counter() - start,
        "loss_history": history,
        "config": config.to_dict(),
    }


def run_kwargs(model: Any, tokenizer: Any) -> dict[str, Any]:
    """``hf-tokens run --method s2d``: the target's own nested sub-networks as drafts (no trained draft needed), at
    about 1/3, 2/3 and all of its first 12 layers (4 / 8 / 12 on SmolLM2, as in the benchmark)."""
    total = num_layers(model)
    return {"s2d_config": {"depths": list(default_depths(max(1, min(12, total - 1))))}}
