"""The public ``generate`` of a generation method, built once for all of them: :func:`make_custom_generate`.

A method's ``generate`` is called in two ways, and one function serves both:

1. ``model.generate(**inputs, custom_generate=token_recycling.generate, ...)`` — transformers prepares everything
   and calls ``generate(model, input_ids, logits_processor=..., stopping_criteria=..., generation_config=...,
   use_cache=..., **model_kwargs)``: the *decoding* call.
2. ``model.generate(**inputs, custom_generate="path/to/folder", trust_remote_code=True)`` (a Hub
   ``custom_generate/generate.py``), or calling ``token_recycling.generate(model, **inputs, max_new_tokens=...)``
   directly: the function receives the raw ``generate`` arguments and must prepare them itself. We hand them back to
   ``GenerationMixin.generate`` with the method's decoding function as the callable, so preparation is transformers'
   own (generation config, logits processors, stopping criteria, cache).

transformers routes a ``custom_generate`` callable's own keyword arguments by reading its signature (names that
``_sample`` does not take go to the callable, everything else is validated as a model argument), so the function
built here carries a signature that lists the method's config and options.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from transformers import GenerationConfig, GenerationMixin, LogitsProcessorList, StoppingCriteriaList
from transformers.generation.utils import GenerateDecoderOnlyOutput

ConfigT = TypeVar("ConfigT")

_CALL_CONVENTIONS = """Both call conventions work: ``model.generate(**inputs, custom_generate=generate, ...)`` and
``generate(model, **inputs, max_new_tokens=...)`` (also what an exported Hub ``custom_generate`` folder runs).
``{config}`` is a :class:`{cls}` or a dict of its fields;
a wrong type or an unknown field is refused before anything runs."""


def coerce_config(value: Any, cls: type[ConfigT], name: str) -> ConfigT:
    """A method's config from ``None`` (defaults), a dict of fields, or an instance; anything else is a TypeError."""
    if value is None:
        return cls()
    if isinstance(value, dict):
        if dataclasses.is_dataclass(cls):
            allowed = [f.name for f in dataclasses.fields(cls) if f.init]
            unknown = sorted(set(value) - set(allowed))
            if unknown:
                raise TypeError(f"{name} has no field(s) {unknown}; {cls.__name__} fields: {allowed}")
        return cls(**value)
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__} or dict, got {type(value).__name__}")
    return value


def require_ints(config: Any, names: tuple[str, ...], minimum: int = 1) -> None:
    """ValueError naming the first field of ``names`` on ``config`` that is not an int >= ``minimum``."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def decoder_only_output(
    generation_config: GenerationConfig,
    sequences: torch.Tensor,
    scores: list[torch.Tensor],
    logits: list[torch.Tensor],
    cache: Any,
) -> torch.Tensor | GenerateDecoderOnlyOutput:
    """What a decoding method returns: ``sequences``, or with ``return_dict_in_generate`` the output object with the
    scores / raw logits the generation config asked for and the cache (when ``use_cache``)."""
    if not generation_config.return_dict_in_generate:
        return sequences
    return GenerateDecoderOnlyOutput(
        sequences=sequences,  # type: ignore[arg-type]
        scores=tuple(scores) if generation_config.output_scores else None,  # type: ignore[arg-type]
        logits=tuple(logits) if generation_config.output_logits else None,  # type: ignore[arg-type]
        cache=cache if generation_config.use_cache else None,
    )


def is_decoding_call(
    input_ids: Any, logits_processor: Any, stopping_criteria: Any, generation_config: Any, kwargs: dict
) -> bool:
    """True when ``GenerationMixin.generate`` has prepared the arguments (convention 1 above)."""
    return (
        isinstance(input_ids, torch.Tensor)
        and isinstance(logits_processor, LogitsProcessorList)
        and isinstance(stopping_criteria, StoppingCriteriaList)
        and isinstance(generation_config, GenerationConfig)
        and "use_cache" in kwargs
        and "prefix_allowed_tokens_fn" not in kwargs
    )


def _signature(config_kwarg: str, config_cls: type, options: Mapping[str, Any]) -> inspect.Signature:
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("model", positional)]
    for name in ("input_ids", "logits_processor", "stopping_criteria", "generation_config"):
        params.append(inspect.Parameter(name, positional, default=None))
    params.append(inspect.Parameter("synced_gpus", positional, default=False))
    params.append(inspect.Parameter("streamer", positional, default=None))
    params.append(inspect.Parameter(config_kwarg, keyword, default=None, annotation=f"{config_cls.__name__} | dict"))
    params += [inspect.Parameter(name, keyword, default=default) for name, default in options.items()]
    params.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def make_custom_generate(
    decode: Callable[..., Any],
    config_cls: type,
    config_kwarg: str,
    *,
    doc: str,
    options: Mapping[str, Any] | None = None,
    check: Callable[[Any, dict[str, Any]], None] | None = None,
    module: str | None = None,
) -> Callable[..., Any]:
    """A method's public ``generate`` for both call conventions (module docstring).

    ``decode(model, input_ids, *, logits_processor, stopping_criteria, generation_config, synced_gpus, streamer,
    <config_kwarg>=<config instance>, **options_and_model_kwargs)`` is the method's decoding function: it receives
    prepared arguments only, and its config always as a ``config_cls`` instance. ``options`` maps the method's other
    keyword arguments to the defaults shown in the signature (transformers routes only the names listed there to the
    method). ``check(model, kwargs)`` validates the method's arguments before any preparation (e.g. a draft model).
    ``doc`` becomes ``generate.__doc__`` (a paragraph on the call conventions is appended); ``module`` its
    ``__module__`` (default: ``decode``'s).
    """
    signature = _signature(config_kwarg, config_cls, options or {})

    def decoding(model: Any, input_ids: Any = None, **kwargs: Any) -> Any:
        kwargs[config_kwarg] = coerce_config(kwargs.get(config_kwarg), config_cls, config_kwarg)
        return decode(model, input_ids, **kwargs)

    def generate(
        model: Any,
        input_ids: Any = None,
        logits_processor: Any = None,
        stopping_criteria: Any = None,
        generation_config: Any = None,
        synced_gpus: Any = False,
        streamer: Any = None,
        **kwargs: Any,
    ) -> Any:
        if input_ids is None and "inputs" in kwargs:
            input_ids = kwargs.pop("inputs")
        kwargs[config_kwarg] = coerce_config(kwargs.get(config_kwarg), config_cls, config_kwarg)
        if check is not None:
            check(model, kwargs)
        if is_decoding_call(input_ids, logits_processor, stopping_criteria, generation_config, kwargs):
            prepared = {"logits_processor": logits_processor, "stopping_criteria": stopping_criteria}
            prepared.update(generation_config=generation_config, synced_gpus=synced_gpus, streamer=streamer)
            return decoding(model, input_ids, **prepared, **kwargs)
        kwargs.pop("custom_generate", None)
        kwargs.pop("trust_remote_code", None)
        if input_ids is not None:
            kwargs["input_ids"] = input_ids
        return GenerationMixin.generate(
            model,
            generation_config=generation_config,
            logits_processor=logits_processor,
            stopping_criteria=stopping_criteria,
            synced_gpus=synced_gpus or None,
            streamer=streamer,
            custom_generate=decoding,
            **kwargs,
        )

    owner = module or decode.__module__
    for fn, name in ((generate, "generate"), (decoding, "_decoding")):
        fn.__signature__ = signature  # type: ignore[attr-defined]
        fn.__module__ = owner
        fn.__name__ = fn.__qualname__ = name
    conventions = _CALL_CONVENTIONS.format(config=config_kwarg, cls=config_cls.__name__)
    generate.__doc__ = inspect.cleandoc(doc) + "\n\n" + conventions
    decoding.__doc__ = "The decoding call of the ``generate`` above (prepared arguments only)."
    return generate
