"""Layer-by-layer quantization of a Llama-style causal LM: rotate, then per decoder layer collect the
(importance-weighted) Hessians of its linear layers, quantize them with GPTQ (or RTN) into :class:`RSQLinear`, and
feed the *quantized* layer's outputs to the next layer (GPTQ's sequential scheme).

Memory stays bounded: only one layer's inputs for the calibration set (``num_samples x seq_len x hidden``) and one
layer's Hessians are held; each sequence runs alone (batch 1). Deviation from GPTQ's "true sequential" option: the
linears of one layer all use Hessians of the full-precision layer (one calibration pass per layer, not four).

Calibration text: ``num_samples`` windows at seeded random offsets in the first 90% of the corpus (the last 10% is
left for held-out evaluation, see ``benchmarks/quantization.py``), each tokenized and cut to ``seq_len`` tokens.
"""

from __future__ import annotations

import contextlib
import functools
import random
from typing import Any

import torch
from torch import nn

from hf_tokens.quantization.rsq.config import RSQConfig
from hf_tokens.quantization.rsq.gptq import accumulate_hessian, gptq, rtn
from hf_tokens.quantization.rsq.importance import token_importance
from hf_tokens.quantization.rsq.modules import RSQLinear
from hf_tokens.quantization.rsq.rotation import decoder_parts, linear_input, rotate_model

CALIBRATION_SHARE = 0.9  # calibration windows come from the first 90% of a corpus


def quantizable_linears(model: Any, config: RSQConfig) -> list[list[tuple[Any, str, Any]]]:
    """Per decoder layer, ``(parent, attribute, module)`` of each linear layer in it, minus
    ``config.modules_to_not_convert`` (a name matches when it equals or ends a module's dotted name)."""
    skip = config.modules_to_not_convert or []
    names = {id(m): n for n, m in model.named_modules()}
    out = []
    for layer in decoder_parts(model)[1]:
        found = []
        for parent in layer.modules():
            for attr, child in parent.named_children():
                full = f"{names[id(parent)]}.{attr}"
                if isinstance(child, (nn.Linear, RSQLinear)) and not any(
                    full == s or full.endswith(f".{s}") for s in skip
                ):
                    found.append((parent, attr, child))
        out.append(found)
    return out


def calibration_ids(config: RSQConfig, model: Any, tokenizer: Any = None) -> torch.Tensor:
    """``[num_samples, seq_len]`` token ids (see the module docstring); ``calibration="random"``: uniform ids."""
    n, length = config.num_samples, config.seq_len
    generator = torch.Generator().manual_seed(config.seed)
    if config.calibration == "random":
        return torch.randint(0, model.config.get_text_config().vocab_size, (n, length), generator=generator)
    from hf_tokens.assets.text import load_text

    text = load_text(config.calibration)
    region = text[: int(len(text) * CALIBRATION_SHARE)]
    window = 16 * length  # characters: far more than seq_len tokens of BPE text
    if len(region) < window:
        raise ValueError(
            f"calibration text too short: corpus {config.calibration!r} has {len(region)} characters for "
            f"calibration, a window of seq_len={length} tokens needs {window}; lower seq_len or change corpus"
        )
    tokenizer = tokenizer if tokenizer is not None else _load_tokenizer(config, model)
    rng = random.Random(config.seed)
    rows = []
    for _ in range(n):
        start = rng.randrange(0, len(region) - window + 1)
        ids = tokenizer(region[start : start + window], add_special_tokens=False)["input_ids"]
        if len(ids) < length:
            raise ValueError(
                f"calibration text too short: a {window}-character window of {config.calibration!r} gives "
                f"{len(ids)} tokens < seq_len={length}"
            )
        rows.append(ids[:length])
    return torch.tensor(rows, dtype=torch.long)


def _load_tokenizer(config: RSQConfig, model: Any) -> Any:
    from transformers import AutoTokenizer

    source = config.tokenizer or getattr(model, "name_or_path", None)
    try:
        return AutoTokenizer.from_pretrained(source)
    except Exception as exc:
        raise ValueError(
            f"no tokenizer for the calibration text at {source!r}: pass RSQConfig(tokenizer=<folder>), "
            "calibration='random', or calibration ids to quantize_model"
        ) from exc


class _Stop(Exception):
    pass


@torch.no_grad()
def _first_layer_inputs(model: Any, layer: nn.Module, ids: torch.Tensor) -> tuple[list[torch.Tensor], dict]:
    """The hidden states entering ``layer`` for each sequence of ``ids`` and the keyword arguments it gets."""
    inputs: list[torch.Tensor] = []
    kwargs: dict[str, Any] = {}

    def catch(module: nn.Module, args: tuple, kw: dict) -> None:
        inputs.append(args[0] if args else kw["hidden_states"])
        kwargs.update({k: v for k, v in kw.items() if k != "hidden_states"})
        raise _Stop

    handle = layer.register_forward_pre_hook(catch, with_kwargs=True)
    device = next(model.parameters()).device
    try:
        for row in ids:
            with contextlib.suppress(_Stop):
                model(row[None].to(device), use_cache=False)
    finally:
        handle.remove()
    for key in ("cache", "past_key_values", "past_key_value"):
        kwargs.pop(key, None)
    kwargs["use_cache"] = False
    return inputs, kwargs


def _run(layer: nn.Module, x: torch.Tensor, kwargs: dict, cache: Any = None) -> torch.Tensor:
    out = layer(x, cache=cache, **kwargs) if cache is not None else layer(x, **kwargs)
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def quantize_model(
    model: Any,
    config: RSQConfig,
    input_ids: torch.Tensor | None = None,
    *,
    tokenizer: Any = None,
    progress: bool = True,
) -> Any:
    """Quantize ``model`` in place as ``config`` says (rotation, importance, GPTQ/RTN) and return it.

    ``input_ids`` (``[n, seq_len]``) replaces the config's calibration text. Everything is validated before the
    model is changed; on an error during calibration the model may be partly rotated/quantized (quantization is
    not reversible: reload it).
    """
    from tqdm.auto import tqdm

    _, layers, _, _ = decoder_parts(model)
    linears = quantizable_linears(model, config)
    if not any(linears):
        raise ValueError("the model has no linear layer inside its decoder layers to quantize")
    if config.importance == "attention_concentration" and config.algorithm == "gptq":
        impl = model.config._attn_implementation
        if impl != "sdpa":
            raise ValueError(
                f"importance='attention_concentration' observes the sdpa attention call; the model uses {impl!r}: "
                "load it with attn_implementation='sdpa'"
            )
    if config.needs_calibration:
        ids = input_ids if input_ids is not None else calibration_ids(config, model, tokenizer)
        if ids.dim() != 2 or ids.shape[1] < 2:
            raise ValueError(f"input_ids must be [n, seq_len >= 2], got {tuple(ids.shape)}")
    if config.rotation is not None:
        rotate_model(model, config.rotation, config.seed, online_down_proj=config.online_hadamard)
        linears = quantizable_linears(model, config)  # the online-rotated down_proj layers are new modules
    if not config.needs_calibration:
        for parent, attr, lin in tqdm([t for ts in linears for t in ts], desc="RTN", disable=not progress):
            rounded = rtn(lin.weight, config.bits, config.group_size, config.sym, config.clip_search)
            setattr(parent, attr, _quantized(lin, rounded, config))
        return model
    inputs, kwargs = _first_layer_inputs(model, layers[0], ids)
    for layer, targets in tqdm(list(zip(layers, linears)), desc=f"RSQ {config.describe()}", disable=not progress):
        hessians = _layer_hessians(layer, targets, inputs, kwargs, config)
        for parent, attr, lin in targets:
            quantized = gptq(
                lin.weight,
                hessians[id(lin)],
                bits=config.bits,
                group_size=config.group_size,
                sym=config.sym,
                damp=config.damp,
                block_size=config.block_size,
                act_order=config.act_order,
                clip_search=config.clip_search,
            )
            setattr(parent, attr, _quantized(lin, quantized, config))
        inputs = [_run(layer, x, kwargs) for x in inputs]
    return model


def _quantized(lin: nn.Linear, quantized: Any, config: RSQConfig) -> RSQLinear:
    return RSQLinear.from_quantized(lin, quantized, bits=config.bits, group_size=config.group_size)


def _layer_hessians(
    layer: nn.Module, targets: list, inputs: list[torch.Tensor], kwargs: dict, config: RSQConfig
) -> dict[int, torch.Tensor]:
    """Importance-weighted ``2 X^T diag(r) X`` of every target linear's inputs, averaged over all tokens."""
    hessians = {id(m): torch.zeros(m.in_features, m.in_features, device=m.weight.device) for _, _, m in targets}
    seen: dict[int, torch.Tensor] = {}

    def record(module: nn.Module, args: tuple, out: Any) -> None:
        seen[id(module)] = linear_input(module, args[0].detach())

    handles = [m.register_forward_hook(record) for _, _, m in targets]
    tokens = 0
    try:
        for x in inputs:
            seen.clear()
            importance = token_importance(
                config.importance,
                x,
                functools.partial(_run, layer, x, kwargs),
                low=config.importance_min,
                high=config.importance_max,
                first_fraction=config.first_tokens,
            )
            if not seen:  # the importance pass did not run the layer
                _run(layer, x, kwargs)
            for _, _, m in targets:
                accumulate_hessian(hessians[id(m)], seen[id(m)], importance)
            tokens += x.shape[0] * x.shape[1]
    finally:
        for handle in handles:
            handle.remove()
    for h in hessians.values():
        h.div_(tokens)
    return hessians
