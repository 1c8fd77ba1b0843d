"""The decoding loop shared by every tree method: prefill, then propose -> verify -> accept -> roll back.

:func:`tree_decode` has the signature of a ``custom_generate`` decoding method: ``GenerationMixin.generate`` calls
it after preparing the generation config, logits processors, stopping criteria and the cache, so all the usual
``generate`` arguments (``max_new_tokens``, ``eos_token_id``, ``logits_processor``, ``stopping_criteria``,
``do_sample``/``temperature``/``top_k``/``top_p``, ``return_dict_in_generate``, ``output_scores``/``output_logits``)
behave as they do for plain decoding. Only batch size 1 is supported (see :func:`check_inputs`).
"""

from __future__ import annotations

import inspect
import sys
import time
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList
from transformers.cache_utils import DynamicCache
from transformers.generation.stopping_criteria import EosTokenCriteria, MaxLengthCriteria
from transformers.generation.utils import GenerateDecoderOnlyOutput

from hf_tokens.generation.entry import decoder_only_output
from hf_tokens.generation.tree.accept import accept_greedy_argmax, accept_with_scores
from hf_tokens.generation.tree.linear import verification_linear
from hf_tokens.generation.tree.proposer import TreeProposer
from hf_tokens.generation.tree.verify import TreeVerifier, cache_capacity, check_cache

#: The keyword arguments every tree method's ``generate`` takes besides its config (signature defaults), see
#: :func:`tree_decode`.
TREE_OPTIONS: dict[str, Any] = {"decoding_stats": None, "onednn_linear": None}


def streamer_from_generate() -> Any:
    """The ``streamer`` given to the ``GenerationMixin.generate`` call that is running us, if any.

    transformers (5.x) does not forward ``streamer`` to a *callable* ``custom_generate`` (it keeps only the keys
    that are not in ``_sample``'s signature), although it has already put the prompt into it. We read it from the
    calling ``generate`` frame; nothing is patched.
    """
    frame = sys._getframe(1)
    for _ in range(8):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return None
        if frame.f_code.co_name == "generate" and frame.f_globals.get("__name__") == "transformers.generation.utils":
            return frame.f_locals.get("streamer")
    return None


def check_inputs(
    model: Any, input_ids: Any, generation_config: GenerationConfig, model_kwargs: dict, *, rows: bool = False
) -> None:
    """Refuse what tree decoding cannot do, before any forward. ``rows=True``: the caller decodes a batch row by
    row and checks its padding itself, so several rows and an attention mask with padding pass here."""
    if getattr(model.config, "is_encoder_decoder", False):
        raise ValueError("tree speculative decoding supports decoder-only models; got an encoder-decoder model")
    if generation_config.num_beams != 1:
        raise ValueError(f"num_beams must be 1 for tree speculative decoding, got {generation_config.num_beams}")
    if (generation_config.num_return_sequences or 1) != 1:
        raise ValueError(f"num_return_sequences must be 1, got {generation_config.num_return_sequences}")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise ValueError("input_ids must be a non-empty LongTensor of shape [batch, length]")
    if input_ids.shape[0] != 1 and not rows:
        raise ValueError(
            f"tree speculative decoding supports batch size 1 (got {input_ids.shape[0]} rows): acceptance lengths "
            "differ per row; call generate once per prompt"
        )
    mask = model_kwargs.get("attention_mask")
    if mask is not None and not rows and not bool((mask == 1).all()):
        raise ValueError("attention_mask with padding is not supported (batch size 1 needs no padding)")
    if model_kwargs.get("inputs_embeds") is not None:
        raise ValueError("inputs_embeds is not supported; pass input_ids")
    if generation_config.output_attentions or generation_config.output_hidden_states:
        raise ValueError("output_attentions/output_hidden_states are not supported by tree speculative decoding")
    if model_kwargs.get("synced_gpus"):
        raise ValueError("synced_gpus=True is not supported by tree speculative decoding")
    check_cache(model_kwargs.get("cache"))


def _eos_ids(generation_config: GenerationConfig) -> set[int]:
    eos = generation_config._eos_token_tensor
    if eos is None:
        eos = generation_config.eos_token_id
    if eos is None:
        return set()
    if isinstance(eos, torch.Tensor):
        return {int(x) for x in eos.flatten().tolist()}
    return {int(eos)} if isinstance(eos, int) else {int(x) for x in eos}


def _prompt_forward(model: Any, ids: torch.Tensor, cache: Any, keep: int) -> torch.Tensor:
    kwargs: dict[str, Any] = {"input_ids": ids, "cache": cache, "use_cache": True}
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        kwargs["logits_to_keep"] = keep
    return model(**kwargs).logits[0, -keep:]


def tree_decode(
    model: Any,
    input_ids: torch.LongTensor,
    proposer: TreeProposer,
    *,
    logits_processor: LogitsProcessorList,
    stopping_criteria: StoppingCriteriaList,
    generation_config: GenerationConfig,
    streamer: Any = None,
    decoding_stats: dict | None = None,
    onednn_linear: bool | None = None,
    **model_kwargs: Any,
) -> torch.Tensor | GenerateDecoderOnlyOutput:
    """Generate with ``proposer``'s draft trees, verified by ``model`` one tree per forward.

    ``streamer=None`` means the streamer of the ``model.generate`` call running us, if any (see
    :func:`streamer_from_generate`). ``onednn_linear=False`` keeps PyTorch's stock CPU linear kernel in the
    multi-token forwards after the prompt's; ``None``/``True`` run them on oneDNN for a float32 model on CPU (see
    :mod:`hf_tokens.generation.tree.linear`; the prompt's forward keeps the stock kernel, as plain ``generate``).
    Pass it through ``model.generate``.
    """
    if streamer is None:
        streamer = streamer_from_generate()
    check_inputs(model, input_ids, generation_config, model_kwargs)
    t_start = time.perf_counter()
    device = model.device
    cache = model_kwargs.get("cache")
    if cache is None:
        cache = DynamicCache(config=model.config)
    do_sample = bool(generation_config.do_sample)
    processors = logits_processor if logits_processor is not None else LogitsProcessorList()
    extra_criteria = [c for c in stopping_criteria or [] if not isinstance(c, (MaxLengthCriteria, EosTokenCriteria))]
    eos = _eos_ids(generation_config)
    max_length = int(generation_config.max_length)
    want_scores = bool(generation_config.return_dict_in_generate and generation_config.output_scores)
    want_logits = bool(generation_config.return_dict_in_generate and generation_config.output_logits)

    prompt_len = input_ids.shape[1]
    cached = int(cache.get_seq_length())
    if cached >= prompt_len:
        raise ValueError(f"the cache already holds {cached} tokens; input_ids must extend it (got {prompt_len})")
    capacity = cache_capacity(cache)
    seq = torch.empty((1, max_length + proposer.max_nodes + 1), dtype=torch.long, device=input_ids.device)
    seq[:, :prompt_len] = input_ids
    length = prompt_len
    tokens: list[int] = input_ids[0].tolist()
    scores_out: list[torch.Tensor] = []
    logits_out: list[torch.Tensor] = []

    # Prefill: exactly what plain generate computes for the first new token.
    keep = max(1, min(proposer.prompt_logits, prompt_len - cached))
    prompt_logits = _prompt_forward(model, input_ids[:, cached:].to(device), cache, keep)
    first_logits = prompt_logits[-1:].to(dtype=torch.float32, copy=True)
    first_scores = processors(seq[:, :length], first_logits)  # type: ignore[arg-type]
    if do_sample:
        first = int(torch.multinomial(torch.softmax(first_scores, dim=-1)[0], 1))
    else:
        first = int(first_scores[0].argmax())

    width = max_length + proposer.max_nodes + 1
    proposer.onednn_linear = onednn_linear is not False
    verifier = TreeVerifier(model, cache, max_nodes=proposer.max_nodes, width=width)
    verifier.prefix(prompt_len)

    def emit(new: list[int], rows: list[torch.Tensor], raw: list[torch.Tensor]) -> tuple[int, bool]:
        """Append ``new`` one token at a time with plain generate's stopping rules; returns (count, finished)."""
        nonlocal length
        count = len(new)
        seq[0, length : length + count] = torch.tensor(new, dtype=torch.long)
        finished = False
        for j, token in enumerate(new):
            end = length + j + 1
            if token in eos or end >= max_length:
                count, finished = j + 1, True
                break
            if extra_criteria:
                row = rows[j] if rows else raw[j].view(1, -1)
                if any(bool(c(seq[:, :end], row).any()) for c in extra_criteria):
                    count, finished = j + 1, True
                    break
        length += count
        tokens.extend(new[:count])
        if want_scores:
            scores_out.extend(r.view(1, -1) for r in rows[:count])
        if want_logits:
            logits_out.extend(r.view(1, -1).float() for r in raw[:count])
        if streamer is not None:
            streamer.put(torch.tensor(new[:count], dtype=torch.long))
        return count, finished

    _, finished = emit([first], [first_scores], [first_logits])
    proposer.start(list(tokens), prompt_logits if proposer.prompt_logits else None)

    fast = not do_sample and len(processors) == 0
    steps = nodes_total = 0

    def score_fn(node: int, emitted: list[int], row: torch.Tensor) -> torch.Tensor:
        j = len(emitted)
        if j:
            seq[0, length + j - 1] = emitted[-1]
        context = seq[:, : length + j]
        return processors(context, row.view(1, -1).to(dtype=torch.float32, copy=True))[0]  # type: ignore[arg-type]

    with verification_linear(model, proposer.onednn_linear):
        while not finished:
            tree = proposer.propose(tokens)
            budget = proposer.max_nodes if capacity is None else min(proposer.max_nodes, capacity - verifier.committed)
            tree = tree.trim(max_depth=max_length - length - 1, max_nodes=budget)
            logits = verifier.forward(tree, tree.ids)
            if fast:
                path, new = accept_greedy_argmax(tree, logits.argmax(-1).tolist())
                rows: list[torch.Tensor] = []
            else:
                path, new, rows = accept_with_scores(tree, logits, score_fn, do_sample=do_sample, generator=None)
            raw = [logits[i] for i in path] if (want_logits or (want_scores and fast) or extra_criteria) else []
            if fast and want_scores:
                rows = [r.view(1, -1).float() for r in raw]
            verifier.commit(path, len(tree))
            proposer.update(tree, logits, path, new)
            steps += 1
            nodes_total += len(tree)
            count, finished = emit(new, rows, raw)
            if count < len(new):  # stopped inside the accepted run: drop the cached nodes after the last emitted token
                verifier.rollback(len(path) - count)

    if streamer is not None:
        streamer.end()
    if decoding_stats is not None:
        new_tokens = length - prompt_len
        decoding_stats.update(
            steps=steps,
            new_tokens=new_tokens,
            mean_accepted=(new_tokens - 1) / steps if steps else 0.0,
            mean_tree_nodes=nodes_total / steps if steps else 0.0,
            seconds=time.perf_counter() - t_start,
            **proposer.stats(),
        )
    sequences = seq[:, :length].clone()
    return decoder_only_output(generation_config, sequences, scores_out, logits_out, cache)
