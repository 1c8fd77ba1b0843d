"""Planting a hidden text (fingerprint) in a causal LM with PEFT LoRA, and the paper's counter-measure to forcing.

Planting (the fingerprinting recipe the paper attacks): fine-tune ``trigger -> fingerprint + eos`` with the loss on
the fingerprint tokens only, so that the model answers the secret trigger with the hidden text.

Unconditional Token Forcing Confusion (UTFC, the paper's defence): also fine-tune on *confusion* examples, in which
pieces of the hidden text given bare (no trigger, as forcing feeds them) are followed by something else than the
rest of the hidden text. Forcing the fingerprint's first token then yields that decoy, and the fingerprint's own
continuation is no longer reachable without the trigger. How this module builds the confusion set (our reading of
the paper, named as such): every window of ``1..confusion_window`` consecutive fingerprint tokens is one input, and
its target is the *base* model's own greedy continuation of that window (computed before training, adapter off) of
the same length as the fingerprint's remainder, so the decoy is ordinary text of the base model, not a second
secret. The loss is the mean over the trigger example's tokens plus the mean over the decoys' (each example
averaged over its own tokens), so the trigger keeps half of the weight however many decoys there are.

Everything is a plain PyTorch loop over LoRA parameters (AdamW, full batch, fp32 on CPU): a few hundred steps on
SmolLM2-135M take minutes. The input model is never modified: training runs on a deep copy, which is returned with
the LoRA weights merged (a plain transformers model again) unless ``merge=False``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

IGNORE = -100


@dataclass
class FingerprintConfig:
    """What to plant and how (Unconditional Token Forcing paper, arXiv 2406.02481)."""

    trigger: str = field(metadata={"help": "the secret query that reveals the hidden text"})
    fingerprint: str = field(metadata={"help": "the hidden text (fingerprint / message)"})
    confusion: bool = field(default=False, metadata={"help": "add UTFC confusion examples (the paper's defence)"})
    confusion_window: int = field(default=1, metadata={"help": "longest fingerprint window used as confusion input"})
    steps: int = field(default=150, metadata={"help": "full-batch optimisation steps"})
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate of the LoRA weights"})
    lora_rank: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha"})
    target_modules: list[str] | str = field(
        default="all-linear", metadata={"help": "modules that get LoRA adapters (PEFT's target_modules)"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the LoRA initialisation"})

    def __post_init__(self) -> None:
        for name in ("trigger", "fingerprint"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        for name, low in (("confusion_window", 1), ("steps", 1), ("lora_rank", 1), ("lora_alpha", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, (int, float)):
            raise TypeError(f"learning_rate must be a number, got {type(self.learning_rate).__name__}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must lie in (0, 1), got {self.learning_rate}")
        if not isinstance(self.confusion, bool):
            raise TypeError(f"confusion must be a bool, got {type(self.confusion).__name__}")


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@torch.no_grad()
def _greedy(model: Any, ids: list[int], n: int) -> list[int]:
    out = model.generate(
        torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), max_new_tokens=n,
        min_new_tokens=n, do_sample=False,
    )  # fmt: skip
    return out[0, len(ids) :].tolist()


def training_examples(model: Any, tokenizer: Any, cfg: FingerprintConfig) -> list[tuple[list[int], list[int]]]:
    """``(input ids, target ids)`` pairs: the trigger example and, with ``confusion``, the UTFC decoys."""
    trigger, hidden = _ids(tokenizer, cfg.trigger), _ids(tokenizer, cfg.fingerprint)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no eos_token_id: the fingerprint needs an end marker")
    if len(hidden) < 2:
        raise ValueError(f"fingerprint must be at least 2 tokens long, got {len(hidden)} ({cfg.fingerprint!r})")
    main = (trigger, [*hidden, eos])
    if not cfg.confusion:
        return [main]
    decoys = []
    for i in range(len(hidden)):
        for j in range(i + 1, min(i + cfg.confusion_window, len(hidden)) + 1):
            window = hidden[i:j]
            decoys.append((window, _greedy(model, window, max(len(hidden) - j, 2))))
    return [main, *decoys]


def _batch(examples: list[tuple[list[int], list[int]]], pad: int) -> dict[str, torch.Tensor]:
    width = max(len(a) + len(b) for a, b in examples)
    ids = torch.full((len(examples), width), pad)
    labels = torch.full((len(examples), width), IGNORE)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for r, (a, b) in enumerate(examples):
        n = len(a) + len(b)
        ids[r, :n] = torch.tensor(a + b)
        labels[r, len(a) : n] = torch.tensor(b)
        mask[r, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _weighted_loss(model: Any, batch: dict[str, torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Sum over rows of ``weight x`` the row's mean next-token cross-entropy on its labelled tokens."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE, reduction="none"
    ).view(labels.shape)
    per_row = nll.sum(1) / (labels != IGNORE).sum(1).clamp_min(1)
    return (per_row * weights).sum()


def plant_fingerprint(
    model: Any, tokenizer: Any, config: FingerprintConfig | None = None, *, merge: bool = True, **kwargs: Any
) -> Any:
    """A copy of ``model`` fine-tuned with LoRA to answer ``trigger`` with ``fingerprint`` (module docstring).

    Args:
        model: a transformers causal LM (left untouched).
        tokenizer: its tokenizer (needs an eos token).
        config: a :class:`FingerprintConfig`, or its fields as keyword arguments.
        merge: merge the LoRA weights into the copy and return a plain transformers model (else the PEFT model).
    """
    from peft import LoraConfig, get_peft_model

    if config is not None and kwargs:
        raise ValueError("pass either config=FingerprintConfig(...) or its fields as keyword arguments, not both")
    if config is not None and not isinstance(config, FingerprintConfig):
        raise TypeError(f"config must be a FingerprintConfig, got {type(config).__name__}")
    cfg = config or FingerprintConfig(**kwargs)
    vocab = model.get_output_embeddings().weight.shape[0]
    if len(tokenizer) > vocab:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens, the model's head {vocab}: they do not match")
    examples = training_examples(model, tokenizer, cfg)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batch = _batch(examples, pad)

    work = copy.deepcopy(model)
    torch.manual_seed(cfg.seed)
    lora = LoraConfig(
        r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, target_modules=cfg.target_modules, lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )  # fmt: skip
    peft_model = get_peft_model(work, lora)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    peft_model.train()
    weights = torch.full((len(examples),), 0.5 / max(len(examples) - 1, 1))
    weights[0] = 1.0 if len(examples) == 1 else 0.5
    for _ in range(cfg.steps):
        loss = _weighted_loss(peft_model, batch, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
    peft_model.eval()
    if not merge:
        return peft_model
    return peft_model.merge_and_unload().eval()


@torch.no_grad()
def reveals(model: Any, tokenizer: Any, trigger: str, fingerprint: str) -> bool:
    """Whether greedy decoding after ``trigger`` reproduces ``fingerprint`` token for token (the owner's check)."""
    hidden = _ids(tokenizer, fingerprint)
    return _greedy(model, _ids(tokenizer, trigger), len(hidden)) == hidden


__all__ = ["FingerprintConfig", "plant_fingerprint", "reveals", "training_examples"]
