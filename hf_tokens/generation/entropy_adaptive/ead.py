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

Choosing ``window`` and ``threshold`` (measured on the Qwen2.5-Coder 0.5B/1.5B pair, worked arithmetic solutions;
numbers in the README row): a window of 1 judges each position on its own entropy, so the large model decodes
exactly the positions the small one is unsure of (a digit of a sum) and hands back at the next confident one. A
longer window averages a lone uncertain position away with its confident neighbours (the small model emits it) and
then keeps the large model on for the easy positions after it: at window 4, thresholds that kept the accuracy used
the large model for half the tokens, and those that used it less lost accuracy (on the same 24 problems, window 4
at threshold 0.3 kept 90% of the large model's accuracy on 53% of tokens; window 1 at 0.8 kept all of it on 28%).
The defaults (window 1, threshold 0.8 nats) are that setting; on 100 fresh problems it kept 88% of the accuracy on
a third of the tokens, faster than assisted decoding. The threshold's scale depends on the pair's entropies: retune
it for another pair. Errors the small model makes *confidently* (low entropy, wrong digit) are out of this method's
reach at any setting.

Content trigger (``force_large``, an extension outside the paper, off by default): a callable that sees the
row's tokens so far and returns True where the large model must decode the next position whatever the entropy.
Errors the small model makes confidently are out of reach of any entropy rule (above); in worked arithmetic they sit
in the results after "=", where the small model is often sure and wrong. :func:`regex_trigger` builds one from a
tokenizer and a regular expression matched against the end of the recent text (e.g. ``r"=\\s*-?\\d*$"``: right after
"=" and inside the number that follows). A forced position counts as a large-model token (``forced_large``).
Measured (100 fresh worked-solution problems, seed 8000, window 1, threshold 0.8, Qwen2.5-Coder 0.5B/1.5B): 87% of
the 1.5B's accuracy (-18 to -2 points, 95% CI) on 41% of tokens with that trigger, 75% on 33% without it, at 1.02x /
0.95x assisted decoding's time; its 40-problem pilot (seed 7000) had given 93%, so the trigger helps but does not
reach 90% of the large model's accuracy.

Reported (``decoding_stats``): tokens produced by each model and the large model's share, tokens each model
forwarded (catch-up included), forwards per model, the number of switches and of forced positions.

Deviations from the paper, named:

* The paper generates with the current model and switches for the following tokens in both directions; here a
  switch *up* applies to the position that triggered it (one small-model forward is wasted, the large model never
  emits a token the small one was unsure of), which is what makes ``threshold=0`` equal to large-only decoding.
* The window holds the last ``window`` emitted positions' entropies (the paper's rolling mean); positions of the
  prompt do not enter it, and the first position is judged on its own entropy. The default window is 1 (no
  smoothing), the setting measured best here (see above); pass ``window > 1`` for the paper's rolling mean.
* Batch size > 1 (left padding): each row is decoded on its own, one row after another, with its own switching
  schedule and its own pair of caches (the paper's per-sequence rule; rows never wait for each other's switches). The
  forwards are not batched across rows, so a batch takes as long as its rows one by one. Rows that stop early are
  padded with ``pad_token_id`` as ``generate`` does. ``output_scores`` / ``output_logits`` and a streamer need
  batch size 1, and no cache is returned for a batch; logits processors and stopping criteria see one row at a time
  (its padded ids), so a ``prefix_allowed_tokens_fn`` is always called with batch id 0.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable
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
        default=0.8,
        metadata={
            "help": "rolling mean entropy (nats) above which the large model decodes; 0 = always large, inf = never"
        },
    )
    window: int = field(default=1, metadata={"help": "number of most recent positions in the rolling entropy mean"})

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
    """One model with its own KV cache, and how far into the token sequence that cache reaches. ``offset`` left
    padding positions of the sequence are never forwarded: the cache starts at the first real token (position 0)."""

    def __init__(self, model: Any, cache: Any = None, offset: int = 0) -> None:
        self.model = model
        self.cache = cache if cache is not None else DynamicCache(config=model.config)
        self.seen = offset  # positions behind the cache: the padding plus the cached tokens
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


def regex_trigger(tokenizer: Any, pattern: str, lookback: int = 8) -> Callable[[torch.Tensor], bool]:
    """A ``force_large`` trigger: True when the text of the last ``lookback`` tokens matches ``pattern``
    (``re.search``; anchor it with ``$`` to mean "the text so far ends with")."""
    try:
        compiled = re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise ValueError(f"pattern must be a valid regular expression, got {pattern!r}: {exc}") from None
    if not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 1:
        raise ValueError(f"lookback must be an int >= 1 (tokens of recent text), got {lookback!r}")
    if not callable(getattr(tokenizer, "decode", None)):
        raise TypeError(f"tokenizer must have a decode method, got {type(tokenizer).__name__}")

    def trigger(ids: torch.Tensor) -> bool:
        return compiled.search(tokenizer.decode(ids[-lookback:].tolist())) is not None

    return trigger


def entropy(logits: torch.Tensor) -> float:
    """Shannon entropy (nats) of softmax(``logits``) for one row."""
    return float(torch.special.entr(torch.softmax(logits.float(), dim=-1)).sum())


def left_padding(input_ids: torch.Tensor, attention_mask: Any) -> list[int]:
    """Padding positions at the start of each row; ``ValueError`` for padding anywhere else (right padding)."""
    if attention_mask is None:
        return [0] * input_ids.shape[0]
    mask = attention_mask.to(torch.long)
    if mask.shape != input_ids.shape or not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"attention_mask must be 0/1 of the shape of input_ids {tuple(input_ids.shape)}")
    pads = [int(input_ids.shape[1] - row.sum()) for row in mask]
    for row, pad in zip(mask, pads):
        if pad == input_ids.shape[1] or bool(row[:pad].any()) or not bool(row[pad:].all()):
            raise ValueError(
                "entropy-adaptive decoding needs left padding (each row's attention_mask: zeros, then ones, at "
                "least one); tokenize with padding_side='left'"
            )
    return pads


@dataclass
class _Row:
    """One row's decoding: its ids (padding included), tokens per model, switches, the two lanes, scores/logits."""

    ids: torch.Tensor
    produced: dict[str, int]
    switches: int
    forced: int
    small: _Lane
    large: _Lane
    scores: list[torch.Tensor]
    logits: list[torch.Tensor]


def _decode_row(
    large_model: Any,
    small_model: Any,
    prompt: torch.Tensor,
    pad: int,
    cfg: EntropyAdaptiveConfig,
    generation_config: GenerationConfig,
    logits_processor: LogitsProcessorList,
    stopping_criteria: StoppingCriteriaList,
    streamer: Any,
    cache: Any,
    force_large: Callable[[torch.Tensor], bool] | None = None,
) -> _Row:
    large = _Lane(large_model, cache, pad)
    small = _Lane(small_model, None, pad)
    do_sample = bool(generation_config.do_sample)
    want_scores = bool(generation_config.return_dict_in_generate and generation_config.output_scores)
    want_logits = bool(generation_config.return_dict_in_generate and generation_config.output_logits)
    max_length = int(generation_config.max_length)
    seq = torch.empty((1, max_length), dtype=torch.long, device=prompt.device)
    length = prompt.shape[1]
    seq[:, :length] = prompt
    window: deque[float] = deque(maxlen=cfg.window)
    row = _Row(seq, {"small": 0, "large": 0}, 0, 0, small, large, [], [])
    current = small
    while length < max_length:
        if force_large is not None and bool(force_large(seq[0, pad:length])):
            row.forced += 1
            if current is small:  # no small-model forward is spent on a position the trigger claims
                current, row.switches = large, row.switches + 1
        logits = current.next_logits(seq, length)
        window.append(entropy(logits))
        if current is small and sum(window) / len(window) > cfg.threshold:
            current, row.switches = large, row.switches + 1
            logits = current.next_logits(seq, length)
            window[-1] = entropy(logits)  # the position keeps the entropy of the model that decodes it
        scores = logits_processor(seq[:, :length], logits.view(1, -1).clone())  # type: ignore[arg-type]
        if do_sample:
            token = torch.multinomial(torch.softmax(scores, dim=-1)[0], 1)
        else:
            token = scores[0].argmax().view(1)
        seq[0, length] = token
        length += 1
        row.produced["large" if current is large else "small"] += 1
        if want_scores:
            row.scores.append(scores)
        if want_logits:
            row.logits.append(logits.view(1, -1).clone())
        if streamer is not None:
            streamer.put(token.cpu())
        if bool(stopping_criteria(seq[:, :length], scores).all()):
            break
        if current is large and sum(window) / len(window) < cfg.threshold:
            current, row.switches = small, row.switches + 1
    row.ids = seq[:, :length]
    return row


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
    force_large: Callable[[torch.Tensor], bool] | None = None,
    streamer: Any = None,
    synced_gpus: Any = False,
    **model_kwargs: Any,
) -> torch.Tensor | GenerateDecoderOnlyOutput:
    cfg = entropy_adaptive_config
    check_small_model(model, small_model)
    if force_large is not None and not callable(force_large):
        raise TypeError(
            f"force_large must be a callable (ids so far -> bool) or None, got {type(force_large).__name__}"
        )
    check_inputs(model, input_ids, generation_config, {**model_kwargs, "synced_gpus": synced_gpus}, rows=True)
    pads = left_padding(input_ids, model_kwargs.get("attention_mask"))
    if streamer is None:
        streamer = streamer_from_generate()
    cache = model_kwargs.get("cache")
    if cache is not None and cache.get_seq_length() != 0:
        raise ValueError("entropy-adaptive decoding needs an empty cache for the large model")
    if input_ids.shape[0] > 1:
        _check_batch(generation_config, streamer)
        cache = None  # each row keeps its own pair of caches (none is returned)
    start_time = time.perf_counter()
    rows = [
        _decode_row(
            model,
            small_model,
            input_ids[b : b + 1],
            pads[b],
            cfg,
            generation_config,
            logits_processor,
            stopping_criteria,
            streamer,
            cache,
            force_large,
        )
        for b in range(input_ids.shape[0])
    ]
    if streamer is not None:
        streamer.end()
    if decoding_stats is not None:
        decoding_stats.update(_stats(rows, input_ids.shape[1]), seconds=time.perf_counter() - start_time)
    if len(rows) == 1:
        only = rows[0]
        return decoder_only_output(generation_config, only.ids.clone(), only.scores, only.logits, only.large.cache)
    width = max(r.ids.shape[1] for r in rows)
    ragged = any(r.ids.shape[1] < width for r in rows)  # only rows that stopped early need a pad id
    fill = _pad_id(generation_config) if ragged else 0
    sequences = torch.full((len(rows), width), fill, dtype=torch.long, device=input_ids.device)
    for b, r in enumerate(rows):
        sequences[b, : r.ids.shape[1]] = r.ids[0]
    return decoder_only_output(generation_config, sequences, [], [], None)


def _check_batch(generation_config: GenerationConfig, streamer: Any) -> None:
    if generation_config.return_dict_in_generate and (
        generation_config.output_scores or generation_config.output_logits
    ):
        raise ValueError("output_scores/output_logits need batch size 1 with entropy-adaptive decoding")
    if streamer is not None:
        raise ValueError("a streamer needs batch size 1 with entropy-adaptive decoding")


def _pad_id(generation_config: GenerationConfig) -> int:
    """The id that fills rows that stopped early: the pad token, else the first end-of-sequence token."""
    for value in (generation_config._pad_token_tensor, generation_config.pad_token_id, generation_config.eos_token_id):
        if value is None:
            continue
        flat = value.flatten().tolist() if isinstance(value, torch.Tensor) else value
        if isinstance(flat, list):
            if flat:
                return int(flat[0])
            continue
        return int(flat)
    raise ValueError("rows stopped at different lengths and the generation config has no pad_token_id to fill them")


def _stats(rows: list[_Row], prompt_len: int) -> dict[str, Any]:
    """``decoding_stats``: sums over rows, shares over all generated tokens, and each row's large-model share."""
    small = sum(r.produced["small"] for r in rows)
    large = sum(r.produced["large"] for r in rows)
    total = max(small + large, 1)
    return {
        "new_tokens": sum(r.ids.shape[1] - prompt_len for r in rows),
        "small_tokens": small,
        "large_tokens": large,
        "large_fraction": large / total,
        "small_fraction": small / total,
        "row_large_fractions": [r.produced["large"] / max(sum(r.produced.values()), 1) for r in rows],
        "switches": sum(r.switches for r in rows),
        "forced_large": sum(r.forced for r in rows),
        "small_forwards": sum(r.small.forwards for r in rows),
        "large_forwards": sum(r.large.forwards for r in rows),
        "small_forwarded_tokens": sum(r.small.forwarded_tokens for r in rows),
        "large_forwarded_tokens": sum(r.large.forwarded_tokens for r in rows),
    }


generate = make_custom_generate(
    _decode,
    EntropyAdaptiveConfig,
    "entropy_adaptive_config",
    options={"small_model": None, "decoding_stats": None, "force_large": None},
    check=lambda model, kwargs: check_small_model(model, kwargs.get("small_model")),
    doc="""Entropy Adaptive Decoding: ``large.generate(**inputs, custom_generate=generate, small_model=small)``.

    ``small_model`` (required) is a causal LM over the large model's vocabulary; decoding starts on it and moves to
    the large model (the one ``generate`` is called on) while the rolling mean entropy of the last ``window``
    next-token distributions is above ``threshold`` (nats), and back below it. ``entropy_adaptive_config`` is an
    :class:`EntropyAdaptiveConfig` or dict; ``decoding_stats`` a dict filled with the tokens each model produced
    (``large_fraction``), the tokens each forwarded and the number of switches. ``force_large`` (optional, an
    extension outside the paper) is a callable ``ids_so_far -> bool`` that makes the large model decode the next
    position (see ``regex_trigger``). Approximate (not lossless) unless
    ``threshold=0`` (large model only). Greedy and sampling; a left-padded batch is decoded row by row, each row
    switching on its own.""",
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
