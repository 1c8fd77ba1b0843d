"""Active-dormant attention heads (arXiv 2410.13835): per head, how much attention goes to the sink token, how small
the sink's value state is, and whether the head is dormant (a sink) or active, per input domain.

The paper's extreme-token phenomena, read from one forward per text:

* **attention sink**: the share of each query's attention that lands on the first token, averaged over the queries
  after the first ``skip_queries`` (the first few queries have little else to attend to);
* **value-state drain**: the norm of the sink token's value state relative to the mean norm of the other tokens'
  value states, per key-value head (small when the head uses the sink as a no-op);
* **residual-state peak**: per layer, the norm of the sink token's residual state over the median norm of the others;
* **active / dormant**: a head is dormant on a domain when its mean sink share there is at least
  ``sink_threshold``; heads that are dormant on one domain and active on another are the paper's active-dormant
  heads (e.g. a head active on code and dormant on prose).

    report = active_dormant_heads(model, tokenizer, {"code": [...], "prose": [...], "numbers": [...]})
    report.dormant_share["prose"], report.switching_heads

How: the model runs once per text with ``attn_implementation="eager"`` (set for the call and restored afterwards,
also on error) and ``output_attentions=True`` / ``output_hidden_states=True``; forward hooks on each layer's
``v_proj`` capture the value states (removed afterwards). Deviation, named: the paper reads these quantities with its
own instrumentation of Llama/OLMo; here they come from transformers' standard outputs, so any HF causal LM whose
layers have ``self_attn.v_proj`` works. Texts are cut to ``max_tokens`` tokens.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class ActiveDormantConfig:
    """Settings of :func:`active_dormant_heads` (Active-Dormant Attention Heads, arXiv 2410.13835)."""

    sink_threshold: float = field(default=0.5, metadata={"help": "mean sink share at which a head counts as dormant"})
    max_tokens: int = field(default=128, metadata={"help": "tokens per text (longer texts are cut)"})
    skip_queries: int = field(default=4, metadata={"help": "first queries left out of the sink share"})

    def __post_init__(self) -> None:
        t = self.sink_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
            raise ValueError(f"sink_threshold must be a number in (0, 1), got {t!r}")
        for name, low in (("max_tokens", 8), ("skip_queries", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if self.skip_queries >= self.max_tokens - 1:
            raise ValueError(f"skip_queries ({self.skip_queries}) must be < max_tokens - 1 ({self.max_tokens - 1})")
        self.sink_threshold = float(t)


@dataclass
class ActiveDormantReport:
    """Per-head and per-layer extreme-token statistics by domain (see the module docstring)."""

    model: str
    config: dict[str, Any]
    domains: list[str]
    sink_share: dict[str, list[list[float]]]  # domain -> [layer][head]
    value_norm_ratio: dict[str, list[list[float]]]  # domain -> [layer][kv head]
    residual_peak: dict[str, list[float]]  # domain -> [layer] (hidden_states after each layer)
    dormant_share: dict[str, float]
    switching_heads: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActiveDormantReport:
        return cls(**data)

    def dormant(self, domain: str) -> list[list[bool]]:
        """``[layer][head]``: whether each head is dormant on ``domain``."""
        t = self.config["sink_threshold"]
        return [[s >= t for s in layer] for layer in self.sink_share[domain]]


def _value_modules(model: Any) -> list[torch.nn.Module]:
    inner = getattr(model, "model", model)
    layers = getattr(inner, "layers", None)
    if layers is None or not all(hasattr(getattr(layer, "self_attn", None), "v_proj") for layer in layers):
        raise ValueError(f"{type(model).__name__}: expected decoder layers with self_attn.v_proj (a Llama-like LM)")
    return [layer.self_attn.v_proj for layer in layers]


@torch.no_grad()
def extreme_token_stats(model: Any, ids: torch.Tensor, queries: torch.Tensor) -> tuple[Any, Any, Any]:
    """``(sink [layer][head], drain [layer][kv head], peak [layer])`` of one sequence ``ids`` ``[T]``, the sink share
    averaged over the query positions where the bool ``queries`` ``[T]`` is True. The model runs with its current
    attention implementation, which must return weights (eager, or a function such as ``hf_tokens_relu``); a row's
    share is its weight on token 0 over the row's total (1 under softmax; ReLU rows need not sum to one)."""
    values: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: values.append(out[0].float())) for m in _value_modules(model)]
    try:
        out = model(input_ids=ids[None], output_attentions=True, output_hidden_states=True, use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    if out.attentions is None or any(a is None for a in out.attentions):
        raise ValueError(f"{type(model).__name__} returned no attention weights under its attention implementation")
    sink = []
    for a in out.attentions:
        rows = a[0][:, queries].float()  # [H, q, T]
        sink.append((rows[..., 0] / rows.sum(-1).clamp_min(1e-12)).mean(-1).tolist())
    kv_heads = getattr(model.config, "num_key_value_heads", None) or model.config.num_attention_heads
    drain = []
    for v in values:
        norms = v.view(v.shape[0], kv_heads, -1).norm(dim=-1)  # [T, kv]
        drain.append((norms[0] / norms[1:].mean(0).clamp_min(1e-12)).tolist())
    peak = []
    for h in out.hidden_states[1:]:
        n = h[0].float().norm(dim=-1)
        peak.append(float(n[0] / n[1:].median().clamp_min(1e-12)))
    return sink, drain, peak


def _one_text(model: Any, ids: torch.Tensor, cfg: ActiveDormantConfig) -> tuple[Any, Any, Any]:
    return extreme_token_stats(model, ids, torch.arange(len(ids)) >= cfg.skip_queries)


def _mean(tables: list[Any]) -> Any:
    if isinstance(tables[0], list):
        return [_mean([t[i] for t in tables]) for i in range(len(tables[0]))]
    return round(statistics.fmean(tables), 6)


def active_dormant_heads(
    model: Any, tokenizer: Any, texts: dict[str, list[str]], config: ActiveDormantConfig | None = None, **kwargs: Any
) -> ActiveDormantReport:
    """Sink share, value drain and residual peaks per head and layer of ``model`` on each domain of ``texts``.

    Args:
        model: a transformers causal LM with Llama-like layers; tokenizer: its tokenizer.
        texts: domain name -> non-empty list of texts (each at least ``skip_queries + 2`` tokens long).
        config: an :class:`ActiveDormantConfig`, or its fields as keyword arguments.
    """
    if config is not None and kwargs:
        raise ValueError("pass either config=ActiveDormantConfig(...) or its fields as keyword arguments, not both")
    if config is not None and not isinstance(config, ActiveDormantConfig):
        raise TypeError(f"config must be an ActiveDormantConfig, got {type(config).__name__}")
    cfg = config or ActiveDormantConfig(**kwargs)
    if not isinstance(texts, dict) or not texts:
        raise ValueError("texts must be a non-empty dict: domain name -> list of texts")
    vocab = model.get_output_embeddings().weight.shape[0]
    if len(tokenizer) > vocab:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens, the model's head {vocab}: they do not match")
    encoded: dict[str, list[torch.Tensor]] = {}
    for domain, items in texts.items():
        if not isinstance(domain, str) or isinstance(items, str) or not items:
            raise ValueError(f"texts[{domain!r}] must be a non-empty list of strings under a str domain name")
        encoded[domain] = []
        for text in items:
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"texts[{domain!r}] holds an empty or non-string text: {text!r}")
            ids = torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"][: cfg.max_tokens])
            if len(ids) < cfg.skip_queries + 2:
                raise ValueError(f"a text of {domain!r} has {len(ids)} tokens; needs >= {cfg.skip_queries + 2}")
            encoded[domain].append(ids)
    _value_modules(model)  # refuse an unsupported model before touching its settings
    previous, was_training = model.config._attn_implementation, model.training
    model.set_attn_implementation("eager")
    model.eval()
    try:
        per_domain = {d: [_one_text(model, ids, cfg) for ids in rows] for d, rows in encoded.items()}
    finally:
        model.set_attn_implementation(previous)
        model.train(was_training)
    sink = {d: _mean([r[0] for r in rows]) for d, rows in per_domain.items()}
    drain = {d: _mean([r[1] for r in rows]) for d, rows in per_domain.items()}
    peak = {d: _mean([r[2] for r in rows]) for d, rows in per_domain.items()}
    t = cfg.sink_threshold
    dormant_share = {
        d: round(statistics.fmean(s >= t for layer in table for s in layer), 6) for d, table in sink.items()
    }
    switching = []
    domains = list(texts)
    for li, layer in enumerate(sink[domains[0]]):
        for hi in range(len(layer)):
            states = {d: sink[d][li][hi] >= t for d in domains}
            if len(set(states.values())) > 1:
                switching.append({"layer": li, "head": hi, "dormant_on": [d for d in domains if states[d]],
                                  "sink_share": {d: sink[d][li][hi] for d in domains}})  # fmt: skip
    name = str(getattr(model, "name_or_path", "") or type(model).__name__)
    return ActiveDormantReport(name, dataclasses.asdict(cfg), domains, sink, drain, peak, dormant_share, switching)


def contract() -> dict[str, Any]:
    """Analysis contract: a report on a seeded tiny Llama over two synthetic domains."""

    def make_report(seed: int) -> dict[str, Any]:
        import random

        from hf_tokens.testing import tiny_model, tiny_tokenizer

        rng = random.Random(seed)
        texts = {
            "numbers": [" ".join(str(rng.randrange(1000)) for _ in range(12)) for _ in range(2)],
            "letters": ["".join(rng.choice("abcdefgh ") for _ in range(40)) for _ in range(2)],
        }
        return active_dormant_heads(tiny_model("llama", seed=seed), tiny_tokenizer(), texts, max_tokens=32).to_dict()

    return {"make_report": make_report}


__all__ = ["ActiveDormantConfig", "ActiveDormantReport", "active_dormant_heads", "contract", "extreme_token_stats"]
