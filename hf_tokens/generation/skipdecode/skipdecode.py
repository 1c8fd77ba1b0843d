"""SkipDecode (Del Corro et al., 2023, arXiv:2307.02628): token-level layer skipping that keeps batching and the KV
cache, as a ``custom_generate`` method.

The prompt runs every layer. The ``i``-th position after it runs the bottom ``warmup_layers`` layers and then the top
``budget(i) - warmup_layers`` layers, where ``budget`` falls linearly from ``max_layers`` to ``min_layers`` over
``decay_tokens`` positions (:class:`~hf_tokens.generation.skipdecode.schedule.SkipDecodeConfig`). The budget is a
function of the column alone, so every row of a batch skips the same layers at each step (one batched forward per
step, no row waits for another). How the cache is kept without recomputing skipped layers is explained in
:mod:`hf_tokens.generation.skipdecode.schedule`. A model needs the fine-tuning recipe
(:mod:`hf_tokens.generation.skipdecode.train`) to work well with a schedule; without it quality drops quickly.

Deviations from the paper, named:

* The paper's schedule runs over absolute positions of the whole sequence and its experiments fine-tune OPT with
  prompts and targets of known length; here the schedule starts at the first position after the (padded) prompt, so
  any prompt length works, and the prompt always runs every layer.
* Budgets are integers: ``max - floor((max - min) * min(i, decay_tokens) / decay_tokens)``.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList
from transformers.cache_utils import DynamicCache
from transformers.generation.utils import GenerateDecoderOnlyOutput

from hf_tokens.generation.entry import decoder_only_output, make_custom_generate
from hf_tokens.generation.skipdecode.schedule import SkipDecodeConfig, decoder_parts, skip_forward


def check_model(model: Any, config: SkipDecodeConfig) -> int:
    """The model's layer count, after checking it has the layers the schedule names (TypeError / ValueError)."""
    layers = decoder_parts(model)[2]
    config.check(len(layers))
    return len(layers)


def _check(model: Any, kwargs: dict[str, Any]) -> None:
    check_model(model, kwargs["skipdecode_config"])


def _decode(
    model: Any,
    input_ids: torch.LongTensor,
    *,
    skipdecode_config: SkipDecodeConfig,
    logits_processor: LogitsProcessorList,
    stopping_criteria: StoppingCriteriaList,
    generation_config: GenerationConfig,
    decoding_stats: dict | None = None,
    streamer: Any = None,
    synced_gpus: Any = False,
    **model_kwargs: Any,
) -> torch.Tensor | GenerateDecoderOnlyOutput:
    cfg = skipdecode_config
    num_layers = check_model(model, cfg)
    if generation_config.num_beams != 1:
        raise ValueError(f"num_beams must be 1 for SkipDecode, got {generation_config.num_beams}")
    if model_kwargs.get("inputs_embeds") is not None:
        raise ValueError("inputs_embeds is not supported by SkipDecode; pass input_ids")
    started = time.perf_counter()
    batch, prompt_len = input_ids.shape
    device = input_ids.device
    padding = model_kwargs.get("attention_mask")
    padding = torch.ones_like(input_ids) if padding is None else padding.to(device).long()
    cache = model_kwargs.get("cache")
    if cache is None or cache.get_seq_length() != 0:
        cache = DynamicCache(config=model.config)
    do_sample = bool(generation_config.do_sample)
    pad = generation_config._pad_token_tensor
    want_scores = bool(generation_config.return_dict_in_generate and generation_config.output_scores)
    want_logits = bool(generation_config.return_dict_in_generate and generation_config.output_logits)
    scores_out: list[torch.Tensor] = []
    logits_out: list[torch.Tensor] = []
    positions = (padding.cumsum(-1) - 1).clamp(min=0)
    logits = skip_forward(
        model, input_ids, [0] * prompt_len, warmup_layers=cfg.warmup_layers, padding=padding,
        position_ids=positions, cache=cache, last_only=True,
    )[:, -1].float()  # fmt: skip
    sequences = input_ids
    unfinished = torch.ones(batch, dtype=torch.long, device=device)
    layer_steps = num_layers  # layers run for the first new token (predicted from the prompt)
    while True:
        scores = logits_processor(sequences, logits)
        if do_sample:
            token = torch.multinomial(torch.softmax(scores, dim=-1), 1).squeeze(1)
        else:
            token = scores.argmax(-1)
        if pad is not None:
            token = token * unfinished + pad * (1 - unfinished)
        sequences = torch.cat([sequences, token[:, None]], dim=-1)  # type: ignore[assignment]
        if want_scores:
            scores_out.append(scores)
        if want_logits:
            logits_out.append(logits)
        if streamer is not None:
            streamer.put(token.cpu())
        unfinished = unfinished & ~stopping_criteria(sequences, scores).long()
        if int(unfinished.max()) == 0:
            break
        column = sequences.shape[1] - 1
        index = column - prompt_len  # 0 for the first position after the prompt
        padding = torch.cat([padding, padding.new_ones((batch, 1))], dim=-1)
        positions = positions[:, -1:] + 1
        top = cfg.first_top_layer(index, num_layers)
        logits = skip_forward(
            model, token[:, None], [top], warmup_layers=cfg.warmup_layers, start=column, padding=padding,
            position_ids=positions, cache=cache, last_only=True,
        )[:, -1].float()  # fmt: skip
        layer_steps += cfg.budget(index, num_layers)

    if streamer is not None:
        streamer.end()
    if decoding_stats is not None:
        new = sequences.shape[1] - prompt_len
        decoding_stats.update(
            new_tokens=new,
            mean_active_layers=layer_steps / max(new, 1),
            num_layers=num_layers,
            layer_fraction=layer_steps / max(new * num_layers, 1),
            seconds=time.perf_counter() - started,
        )
    return decoder_only_output(generation_config, sequences, scores_out, logits_out, cache)


generate = make_custom_generate(
    _decode,
    SkipDecodeConfig,
    "skipdecode_config",
    options={"decoding_stats": None},
    check=_check,
    doc="""SkipDecode: ``model.generate(**inputs, custom_generate=generate, skipdecode_config={"min_layers": 12})``.

    Every position after the prompt skips the layers between ``warmup_layers`` and the top ``budget - warmup_layers``,
    with a budget falling linearly from ``max_layers`` (default: all) to ``min_layers`` over ``decay_tokens``
    positions, shared by all rows; the KV cache of skipped layers is never needed, so never computed.
    ``skipdecode_config`` is a :class:`SkipDecodeConfig` or dict; ``decoding_stats`` a dict filled with the mean
    active layers per token. Approximate (equal to greedy ``generate`` only when the budget is the full depth).
    Batched (left padding), greedy or sampling. Use a model fine-tuned with the schedule
    (``hf_tokens.generation.skipdecode.train``).""",
)


def contract() -> dict[str, Any]:
    """Generation contract (tests/suites/README.md): from the 5th new token on, the 2-layer tiny model runs only its
    top layer."""
    return {
        "generate": generate,
        "make_kwargs": lambda model: {
            "skipdecode_config": {"max_layers": 2, "min_layers": 1, "decay_tokens": 4, "warmup_layers": 0}
        },
        "lossless": False,
    }
