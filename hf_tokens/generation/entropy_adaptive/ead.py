"""Entropy Adaptive Decoding (arXiv:2502.06833): switch between a small and a large model that share
one vocabulary by the rolling entropy of the next-token distribution.

``model.generate(**inputs, custom_generate=generate, small_model=small)`` — the model ``generate`` is called on is
the *large* model; ``small_model`` is the cheap one. Decoding starts on the small model. Each new position is
predicted by the current model; the entropy (nats) of that distribution enters a rolling window of the last
``window`` positions, and

* on the small model, when the window's mean rises **above** ``threshold``, the large model takes over *at this
  position* (the small model's uncertain prediction is discarded and the large model predicts it);
* on the large model, when the window's mean falls **below** ``threshold``, the small model takes over from the
  *next* position (the large model's prediction here is already the better one, so it is kept).

Each position keeps the entropy of the distribution its token was drawn from. Each model keeps its own KV cache;
when it becomes the current model again it catches up on every token it has not seen in one forward (prompt and
tokens the other model produced), never a re-prefill of the whole sequence. ``threshold=0`` therefore reproduces
large-only greedy decoding exactly (the large model predicts every token, one cached step at a time as plain
``generate``), and ``threshold=inf`` small-only greedy decoding.

Reported (``decoding_stats``): tokens produced by each model and the large model's share, tokens each model
forwarded (catch-up included), forwards per model and the number of switches.

Deviations from the paper, named:

* The paper generates with the current model and switches for the following tokens in both directions; here a
  switch *up* applies to the position that triggered it (one small-model forward is wasted, the large model never
  emits a token the small one was unsure of), which is what makes ``threshold=0`` equal to large-only decoding.
* The window holds the last ``window`` emitted positions' entropies (the paper's rolling mean); positions of the
  prompt do not enter it, and the first position is judged on its own entropy.
* Batch size 1 only (each row would need its own switching schedule and cache lengths).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList
from transformers.cache_utils import DynamicCache
from transformers.generation.utils import GenerateDecoderOnlyOutput

from hf_tokens._compat import cache_kwarg, has_parameter
from hf_tokens.generation.dyspec.draft import check_companion
from hf_tokens.generation.entry import decoder_only_output, make_custom_generate, require_ints
from hf_tokens.generation.tree.decode import check_inputs, streamer_from_generate


@dataclass
class EntropyAdaptiveConfig:
    """Settings of Entropy Adaptive Decoding (arXiv:2502.06833)."""

    threshold: float = field(
        default=1.0,
        metadata={
            "help": "rolling mean entropy (nats) above which the large model decodes; 0 = always large, inf = never"
        },
    )
    window: int = field(default=4, metadata={"help": "number of most recent positions in the rolling entropy mean"})

    def __post_init__(self) -> None:
        require_ints(self, ("window",))
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or math.isnan(t) or t < 0:
            raise ValueError(f"threshold must be a number >= 0 (nats; math.inf allowed), got {t!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_small_model(model: Any, small: Any) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``small`` is a decoder-only causal LM over ``model``'s vocabulary."""
    check_companion(
        model,
        small,
        name="small_model",
        role="the large model",
        missing="pass a causal LM that shares the large model's tokenizer and vocabulary, e.g. "
        "Qwen2.5-Coder-0.5B for Qwen2.5-Coder-1.5B",
        mismatch="entropy-adaptive decoding switches between models token by token, so both must share one "
        "tokenizer and vocabulary",
    )


class _Lane:
    """One model with its own KV cache, and how far into the token sequence that cache reaches."""

    def __init__(self, model: Any, cache: Any = None) -> None:
        self.model = model
        self.cache = cache if cache is not None else DynamicCache(config=model.config)
        self.seen = 0  # tokens in the cache
        self.logits: torch.Tensor | None = None  # next-token logits after the last cached token
        self.forwards = 0
        self.forwarded_tokens = 0
        self.keep_one = has_parameter(model.forward, "logits_to_keep")

    def next_logits(self, seq: torch.Tensor, length: int) -> torch.Tensor:
        """Logits of the token at position ``length``, forwarding (in one call) the tokens this cache lacks."""
        if self.seen < length:
            ids = seq[:, self.seen : length].to(self.model.device)
            kwargs: dict[str, Any] = {"input_ids": ids, "use_cache": True, cache_kwarg(): self.cache}
            if self.keep_one:
                kwargs["logits_to_keep"] = 1
            out = self.model(**kwargs)
            self.logits = out.logits[0, -1].float()
            self.forwards += 1
            self.forwarded_tokens += length - self.seen
            self.seen = length
        if self.logits is None or self.seen != length:
            raise RuntimeError(f"the cache holds {self.seen} tokens, more than the {length} decoded so far")
        return self.logits


def entropy(logits: torch.Tensor) -> float:
    """Shannon entropy (nats) of softmax(``logits``) for one row."""
    return float(torch.special.entr(torch.softmax(logits.float(), dim=-1)).sum())


def _decode(
    model: Any,
    input_ids: torch.LongTensor,
    *,
    entropy_adaptive_config: EntropyAdaptiveConfig,
    logits_processor: LogitsProcessorList,
    stopping_criteria: StoppingCriteriaList,
    generation_config: GenerationConfig,
    small_model: Any = None,
    decoding_stats: dict | None = None,
    streamer: Any = None,
    synced_gpus: Any = False,
    **model_kwargs: Any,
) -> torch.Tensor | GenerateDecoderOnlyOutput:
    cfg = entropy_adaptive_config
    check_small_model(model, small_model)
    check_inputs(model, input_ids, generation_config, {**model_kwargs, "synced_gpus": synced_gpus})
    if streamer is None:
        streamer = streamer_from_generate()
    start_time = time.perf_counter()
    large = _Lane(model, model_kwargs.get("cache"))
    small = _Lane(small_model)
    if large.cache.get_seq_length() != 0:
        raise ValueError("entropy-adaptive decoding needs an empty cache for the large model")
    do_sample = bool(generation_config.do_sample)
    want_scores = bool(generation_config.return_dict_in_generate and generation_config.output_scores)
    want_logits = bool(generation_config.return_dict_in_generate and generation_config.output_logits)
    max_length = int(generation_config.max_length)
    seq = torch.empty((1, max_length), dtype=torch.long, device=input_ids.device)
    length = input_ids.shape[1]
    prompt_len = length
    seq[:, :length] = input_ids
    window: deque[float] = deque(maxlen=cfg.window)
    current, produced, switches = small, {"small": 0, "large": 0}, 0
    scores_out: list[torch.Tensor] = []
    logits_out: list[torch.Tensor] = []

    while length < max_length:
        logits = current.next_logits(seq, length)
        window.append(entropy(logits))
        if current is small and sum(window) / len(window) > cfg.threshold:
            current, switches = large, switches + 1
            logits = current.next_logits(seq, length)
            window[-1] = entropy(logits)  # the position keeps the entropy of the model that decodes it
        scores = logits_processor(seq[:, :length], logits.view(1, -1).clone())  # type: ignore[arg-type]
        if do_sample:
            token = torch.multinomial(torch.softmax(scores, dim=-1)[0], 1)
        else:
            token = scores[0].argmax().view(1)
        seq[0, length] = token
        length += 1
        produced["large" if current is large else "small"] += 1
        if want_scores:
            scores_out.append(scores)
        if want_logits:
            logits_out.append(logits.view(1, -1).clone())
        if streamer is not None:
            streamer.put(token.cpu())
        if bool(stopping_criteria(seq[:, :length], scores).all()):
            break
        if current is large and sum(window) / len(window) < cfg.threshold:
            current, switches = small, switches + 1

    if streamer is not None:
        streamer.end()
    if decoding_stats is not None:
        total = max(produced["small"] + produced["large"], 1)
        decoding_stats.update(
            new_tokens=length - prompt_len,
            small_tokens=produced["small"],
            large_tokens=produced["large"],
            large_fraction=produced["large"] / total,
            small_fraction=produced["small"] / total,
            switches=switches,
            small_forwards=small.forwards,
            large_forwards=large.forwards,
            small_forwarded_tokens=small.forwarded_tokens,
            large_forwarded_tokens=large.forwarded_tokens,
            seconds=time.perf_counter() - start_time,
        )
    sequences = seq[:, :length].clone()
    return decoder_only_output(generation_config, sequences, scores_out, logits_out, large.cache)


generate = make_custom_generate(
    _decode,
    EntropyAdaptiveConfig,
    "entropy_adaptive_config",
    options={"small_model": None, "decoding_stats": None},
    check=lambda model, kwargs: check_small_model(model, kwargs.get("small_model")),
    doc="""Entropy Adaptive Decoding: ``large.generate(**inputs, custom_generate=generate, small_model=small)``.

    ``small_model`` (required) is a causal LM over the large model's vocabulary; decoding starts on it and moves to
    the large model (the one ``generate`` is called on) while the rolling mean entropy of the last ``window``
    next-token distributions is above ``threshold`` (nats), and back below it. ``entropy_adaptive_config`` is an
    :class:`EntropyAdaptiveConfig` or dict; ``decoding_stats`` a dict filled with the tokens each model produced
    (``large_fraction``), the tokens each forwarded and the number of switches. Approximate (not lossless) unless
    ``threshold=0`` (large model only). Greedy and sampling; batch size 1.""",
)


def contract() -> dict[str, Any]:
    """Generation contract (tests/suites/README.md): the small model is the large one's first layer plus its head."""
    from hf_tokens.generation.dyspec.draft import truncated_draft

    return {
        "generate": generate,
        "make_kwargs": lambda model: {"small_model": truncated_draft(model, 1)},
        "lossless": False,
    }


def run_kwargs(model: Any, tokenizer: Any) -> dict[str, Any]:
    """The ``generate`` arguments of ``hf-tokens run --method entropy-adaptive-decoding``: the bundled model as the
    large model and a 4-bit round-to-nearest copy of it (``hf_tokens.quantization.rsq``, group size 64 where it
    divides every input width, else per channel) as the small one.

    The bundled assets hold no smaller model with SmolLM2's vocabulary (the benchmark uses the Qwen2.5-Coder
    0.5B/1.5B pair), and a truncated copy (its first layers under the shared head) is no language model at all: it
    produced word salad whenever it held the turn. The 4-bit copy is a real, weaker model of the same vocabulary,
    so the demo shows the switching and the large model's share of tokens; it is not cheaper on this CPU (its
    weights are dequantized on the fly), so the demo shows no speed-up."""
    import copy

    from hf_tokens.quantization.rsq import RSQConfig, quantize_model

    text = model.config.get_text_config()
    widths = (text.hidden_size, text.intermediate_size, text.num_attention_heads * _head_dim(text))
    group = 64 if all(w % 64 == 0 for w in widths) else -1
    small = copy.deepcopy(model)
    config = RSQConfig(bits=4, group_size=group, algorithm="rtn", rotation=None, importance="uniform")
    return {"small_model": quantize_model(small, config, progress=False)}


def _head_dim(text_config: Any) -> int:
    head_dim = getattr(text_config, "head_dim", None)
    return int(head_dim or text_config.hidden_size // text_config.num_attention_heads)
