"""The Bigram-Backcopy (BB) task of Active-Dormant Attention Heads (arXiv 2410.13835) and its three training arms.

The task (as the paper defines it, checked against the official ``BBM/data.py``): a character-level bigram
Markov chain estimated from text, ``k = 3`` trigger tokens (the most frequent characters), and a BOS token at
position 0. After a non-trigger token the next token is drawn from the bigram; after a trigger token it is a copy of
the token *before* the trigger (backcopy). A one-layer transformer learns it with one head that copies on trigger
queries (active) and parks its attention on BOS on every other query (dormant): the attention sink, the small BOS
value state (value drain) and the large BOS residual norm (residual peak). The paper's mitigations are ReLU attention
(:mod:`hf_tokens.attention.relu`) and SGD instead of Adam; :func:`train_arm` trains each arm with the same data,
budget and seed and :func:`bb_report` measures them.

Deviations, named: the bigram is estimated from an offline corpus of this machine (``hf_tokens.assets.text``; the
paper uses Tiny Shakespeare's characters), restricted to its ``vocab - 1`` most frequent characters; the first token
after BOS is drawn from the characters' marginal without the triggers (so position 1 never backcopies BOS); the model
is transformers' Llama (RMSNorm, RoPE, SwiGLU MLP) rather than the paper's own transformer; and the CPU budget is far
smaller than the paper's 10k steps of batch 512 (a flag of ``benchmarks/analysis.py --stage toy``).
"""

from __future__ import annotations

import collections
import itertools
import statistics
from dataclasses import dataclass, field
from typing import Any

import torch

from hf_tokens.analysis.active_dormant_heads.report import extreme_token_stats

ARMS = {  # name -> (attention, optimizer)
    "softmax+adam": ("softmax", "adam"),
    "relu+adam": ("relu", "adam"),
    "softmax+sgd": ("softmax", "sgd"),
}


class BigramBackcopy:
    """Sampler of BB sequences: ``bos`` (id ``vocab - 1``), then bigram steps, backcopy after each trigger."""

    def __init__(self, text: str, vocab: int = 64, triggers: int = 3) -> None:
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty str (the bigram's source)")
        if not 2 <= triggers < vocab - 2:
            raise ValueError(f"triggers must be in [2, vocab - 3], got {triggers} with vocab {vocab}")
        counts = collections.Counter(text)
        if len(counts) < vocab - 1:
            raise ValueError(f"the text has {len(counts)} distinct characters; vocab - 1 = {vocab - 1} needed")
        self.chars = [c for c, _ in counts.most_common(vocab - 1)]
        index = {c: i for i, c in enumerate(self.chars)}
        self.bos, self.vocab = vocab - 1, vocab
        self.triggers = torch.arange(triggers)  # the most frequent characters come first
        pairs = torch.zeros(vocab - 1, vocab - 1)
        ids = [index.get(c, -1) for c in text]
        for a, b in itertools.pairwise(ids):
            if a >= 0 and b >= 0:
                pairs[a, b] += 1
        empty = pairs.sum(-1) == 0
        pairs[empty] = 1.0  # a character never followed by a kept one: uniform next character
        self.transition = pairs / pairs.sum(-1, keepdim=True)
        first = torch.tensor([counts[c] for c in self.chars], dtype=torch.float)
        first[self.triggers] = 0.0
        self.first = first / first.sum()

    def is_trigger(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.isin(ids, self.triggers)

    def sample(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``[batch, length]`` sequences; column 0 is BOS."""
        if length < 3 or batch < 1:
            raise ValueError(f"need batch >= 1 and length >= 3, got {batch}, {length}")
        seq = torch.empty(batch, length, dtype=torch.long)
        seq[:, 0] = self.bos
        seq[:, 1] = torch.multinomial(self.first, batch, replacement=True, generator=generator)
        for t in range(1, length - 1):
            drawn = torch.multinomial(self.transition[seq[:, t]], 1, generator=generator)[:, 0]
            seq[:, t + 1] = torch.where(self.is_trigger(seq[:, t]), seq[:, t - 1], drawn)
        return seq


@dataclass
class ToyConfig:
    """Model and budget of one BB arm (every arm of a comparison gets the same)."""

    layers: int = field(default=1, metadata={"help": "transformer layers (the paper: 1 to 3)"})
    hidden: int = field(default=128, metadata={"help": "model width"})
    heads: int = field(default=1, metadata={"help": "attention heads per layer"})
    length: int = field(default=64, metadata={"help": "tokens per sequence, BOS included"})
    steps: int = field(default=400, metadata={"help": "training steps"})
    batch: int = field(default=32, metadata={"help": "sequences per step (fresh samples every step)"})
    adam_lr: float = field(default=3e-3, metadata={"help": "learning rate of the AdamW arms (the paper's 0.003)"})
    sgd_lr: float = field(default=0.1, metadata={"help": "learning rate of the SGD arm (momentum 0.9; paper 0.03)"})
    weight_decay: float = field(default=1e-4, metadata={"help": "weight decay of every arm (the paper's 1e-4)"})
    seed: int = field(default=0, metadata={"help": "seed of the model initialisation and of the data"})

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads", "length", "steps", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")


def build_model(task: BigramBackcopy, cfg: ToyConfig, attention: str) -> Any:
    """A Llama of ``cfg``'s size over the task's vocabulary; softmax or ReLU attention, both through ``hf_tokens_relu``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from hf_tokens.attention.relu import register_relu_attention

    if attention not in ("softmax", "relu"):
        raise ValueError(f"attention must be 'softmax' or 'relu', got {attention!r}")
    config = LlamaConfig(
        vocab_size=task.vocab, hidden_size=cfg.hidden, intermediate_size=2 * cfg.hidden,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
        max_position_embeddings=cfg.length, bos_token_id=task.bos, eos_token_id=None, pad_token_id=None,
    )  # fmt: skip
    config.relu_attention_phi = attention  # read by hf_tokens_relu from the attention modules' config
    torch.manual_seed(cfg.seed)
    model: Any = LlamaForCausalLM(config)
    model.set_attn_implementation(register_relu_attention())  # the softmax arm runs the same code with phi=softmax
    return model.train()


def train_arm(task: BigramBackcopy, cfg: ToyConfig, arm: str) -> tuple[Any, list[float]]:
    """Train one arm of :data:`ARMS` on fresh BB batches; returns ``(model, loss per step)``."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {sorted(ARMS)}, got {arm!r}")
    attention, optimizer_name = ARMS[arm]
    model = build_model(task, cfg, attention)
    params = model.parameters()
    optimizer = (
        torch.optim.AdamW(params, lr=cfg.adam_lr, weight_decay=cfg.weight_decay)
        if optimizer_name == "adam"
        else torch.optim.SGD(params, lr=cfg.sgd_lr, momentum=0.9, weight_decay=cfg.weight_decay)
    )
    data = torch.Generator().manual_seed(cfg.seed)
    losses = []
    for _ in range(cfg.steps):
        batch = task.sample(cfg.batch, cfg.length, data)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return model.eval(), losses


@torch.no_grad()
def bb_report(model: Any, task: BigramBackcopy, sequences: torch.Tensor, skip: int = 2) -> dict[str, Any]:
    """Sink share on non-trigger and on trigger queries (mean over layers and heads, and per layer/head), BOS value
    drain and residual peak (means over sequences), backcopy accuracy on trigger positions and the excess loss over
    the bigram's own entropy on non-trigger positions."""
    non_trigger: list[Any] = []
    trigger: list[Any] = []
    drains: list[float] = []
    peaks: list[float] = []
    for ids in sequences:
        late = torch.arange(len(ids)) >= skip
        trig = task.is_trigger(ids)
        for mask, out in ((late & ~trig, non_trigger), (late & trig, trigger)):
            if bool(mask.any()):
                out.append(extreme_token_stats(model, ids, mask)[0])
        _, drain, peak = extreme_token_stats(model, ids, late)
        drains.append(statistics.fmean(x for layer in drain for x in layer))
        peaks.append(statistics.fmean(peak))
    logits = model(input_ids=sequences).logits[:, :-1].float()
    prev, cur, nxt = sequences[:, :-2], sequences[:, 1:-1], sequences[:, 2:]
    trig = task.is_trigger(cur)
    copy_acc = (logits[:, 1:].argmax(-1) == prev)[trig].float().mean()
    nll = torch.nn.functional.cross_entropy(logits[:, 1:].transpose(1, 2), nxt, reduction="none")
    probs = task.transition[cur.clamp_max(task.vocab - 2)]
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1)
    return {
        "sink_share_non_trigger": _grand_mean(non_trigger),
        "sink_share_trigger": _grand_mean(trigger),
        "sink_per_head_non_trigger": _table_mean(non_trigger),
        "sink_per_head_trigger": _table_mean(trigger),
        "value_drain": statistics.fmean(drains),
        "residual_peak": statistics.fmean(peaks),
        "backcopy_accuracy": float(copy_acc),
        "bigram_excess_nll": float((nll - entropy)[~trig].mean()),
    }


def _table_mean(tables: list[list[list[float]]]) -> list[list[float]]:
    shape = [len(layer) for layer in tables[0]]
    return [[statistics.fmean(t[i][j] for t in tables) for j in range(n)] for i, n in enumerate(shape)]


def _grand_mean(tables: list[list[list[float]]]) -> float:
    return statistics.fmean(x for layer in _table_mean(tables) for x in layer)


__all__ = ["ARMS", "BigramBackcopy", "ToyConfig", "bb_report", "build_model", "train_arm"]
