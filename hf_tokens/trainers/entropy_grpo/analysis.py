"""Per-token entropy of generated chain-of-thought and the "forking tokens" report of Wang et al. (2025), for any
Hugging Face causal LM.

The paper observes that most tokens of a chain-of-thought are generated with low entropy while a minority (about
20%) carry high entropy and act as forks ("suppose", "however", "thus" ...). :func:`forking_token_report` generates
completions, scores the entropy of the distribution each completion token was drawn from, and reports the
quantile threshold, the share of the total entropy carried by the top-ρ tokens, and the tokens that most often sit
at high-entropy positions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor


def token_entropies(
    model: Any, input_ids: Tensor, attention_mask: Tensor | None = None, *, temperature: float = 1.0
) -> Tensor:
    """Entropy (nats) of the next-token distribution that predicts each token: ``out[:, t]`` is the entropy at the
    position predicting ``input_ids[:, t + 1]``; shape ``[B, T - 1]`` (0 where that token is padding).

    A view of :func:`hf_tokens.analysis.token_stats` (chunked over the vocabulary, no ``[B, T, V]`` logits)."""
    from hf_tokens.analysis.token_stats import token_stats

    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.size(1) < 2:
        shape = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
        raise ValueError(f"input_ids must be [batch, seq >= 2], got shape {shape}")
    stats = token_stats(model, input_ids=input_ids, attention_mask=attention_mask, temperature=temperature)
    return stats.entropy[:, :-1]  # type: ignore[index]


@dataclass
class ForkingToken:
    token: str
    count: int
    high_entropy_count: int
    mean_entropy: float

    @property
    def fork_rate(self) -> float:
        """Fraction of this token's occurrences that sit at high-entropy positions."""
        return self.high_entropy_count / self.count if self.count else 0.0


@dataclass
class ForkingTokenReport:
    """Entropy statistics of generated tokens and the most frequent high-entropy ("forking") tokens."""

    top_ratio: float
    num_tokens: int
    threshold: float
    mean_entropy: float
    median_entropy: float
    high_entropy_share: float
    entropy_mass_share: float
    forking_tokens: list[ForkingToken] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    entropies: list[list[float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for row, tok in zip(data["forking_tokens"], self.forking_tokens):
            row["fork_rate"] = tok.fork_rate
        return data

    def __str__(self) -> str:
        lines = [
            f"{self.num_tokens} generated tokens: mean entropy {self.mean_entropy:.3f}, "
            f"median {self.median_entropy:.3f}",
            f"top {self.top_ratio:.0%} threshold {self.threshold:.3f} nats: {self.high_entropy_share:.1%} of tokens "
            f"carry {self.entropy_mass_share:.1%} of the total entropy",
            "forking tokens (token | at high entropy / occurrences | mean entropy):",
        ]
        lines += [
            f"  {t.token!r:>14} | {t.high_entropy_count}/{t.count} | {t.mean_entropy:.3f}" for t in self.forking_tokens
        ]
        return "\n".join(lines)


def forking_token_report(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    top_ratio: float = 0.2,
    top_n: int = 20,
    do_sample: bool = False,
    temperature: float = 1.0,
    chat_template: bool | None = None,
    seed: int = 0,
) -> ForkingTokenReport:
    """Generate a completion per prompt and report its per-token entropy and forking tokens.

    ``top_ratio`` (ρ) sets the high-entropy threshold at the ``1 - ρ`` quantile of all generated tokens' entropies.
    ``chat_template`` (default: when the tokenizer has one) wraps each prompt as a user turn. The model is used as
    is (no training, no state change besides generation).
    """
    if isinstance(prompts, str) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise TypeError("prompts must be a non-empty sequence of str")
    if not 0.0 < top_ratio <= 1.0:
        raise ValueError(f"top_ratio must be in (0, 1], got {top_ratio}")
    if max_new_tokens < 1 or top_n < 1:
        raise ValueError(f"max_new_tokens and top_n must be >= 1, got {max_new_tokens} and {top_n}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    from hf_tokens.analysis.token_stats import token_stats

    use_chat = bool(getattr(tokenizer, "chat_template", None)) if chat_template is None else chat_template
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    per_token: list[tuple[str, float]] = []
    completions, entropies_out = [], []
    torch.manual_seed(seed)
    for prompt in prompts:
        if use_chat:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        else:
            text = prompt
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=not use_chat).input_ids.to(device)
        gen_kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample, "pad_token_id": pad_id}
        if do_sample:
            gen_kwargs["temperature"] = temperature
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), **gen_kwargs)
        new = out[0, ids.size(1) :]
        if tokenizer.eos_token_id is not None:
            stop = (new == tokenizer.eos_token_id).nonzero()
            if stop.numel():
                new = new[: int(stop[0]) + 1]
        if new.numel() == 0:
            continue
        full = torch.cat([ids[0], new]).unsqueeze(0)
        stats = token_stats(model, input_ids=full, continuation_start=ids.size(1), temperature=temperature)
        ent = stats.values("entropy", 0).cpu()
        completions.append(tokenizer.decode(new, skip_special_tokens=True))
        entropies_out.append(ent.tolist())
        per_token += [(tokenizer.decode([int(t)]), float(h)) for t, h in zip(new, ent)]
    if not per_token:
        raise ValueError("the model generated no tokens for any prompt")
    values = torch.tensor([h for _, h in per_token])
    threshold = float(torch.quantile(values, 1.0 - top_ratio))
    high = values >= threshold
    total = float(values.sum())
    counts: Counter[str] = Counter()
    high_counts: Counter[str] = Counter()
    sums: dict[str, float] = defaultdict(float)
    for (tok, h), is_high in zip(per_token, high.tolist()):
        counts[tok] += 1
        sums[tok] += h
        high_counts[tok] += int(is_high)
    ranked = sorted(high_counts, key=lambda t: (-high_counts[t], -sums[t] / counts[t]))[:top_n]
    forking = [ForkingToken(t, counts[t], high_counts[t], sums[t] / counts[t]) for t in ranked if high_counts[t]]
    return ForkingTokenReport(
        top_ratio=float(top_ratio),
        num_tokens=len(per_token),
        threshold=threshold,
        mean_entropy=float(values.mean()),
        median_entropy=float(values.median()),
        high_entropy_share=float(high.float().mean()),
        entropy_mass_share=float(values[high].sum()) / total if total > 0 else 0.0,
        forking_tokens=forking,
        completions=completions,
        entropies=entropies_out,
    )


def demo(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> dict[str, Any]:
    """``hf-tokens run high-entropy-minority``: greedy answer to ``prompt`` and its forking-token statistics."""
    import time

    start = time.perf_counter()
    report = forking_token_report(model, tokenizer, [prompt], max_new_tokens=max_new_tokens, top_n=8)
    return {
        "text": report.completions[0],
        "new_tokens": report.num_tokens,
        "seconds": time.perf_counter() - start,
        "mean_entropy": round(report.mean_entropy, 4),
        "top20_threshold_nats": round(report.threshold, 4),
        "top20_entropy_mass_share": round(report.entropy_mass_share, 4),
        "forking_tokens": [t.token for t in report.forking_tokens],
    }
