"""Model cards rendered from the Jinja templates in ``cards/`` (shipped in the wheel as ``hf_tokens/_cards``)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from hf_tokens.registry import CARD_KINDS, MethodSpec, get

_LIBRARY = {
    "model": "transformers",
    "tokenizer": "transformers",
    "custom_generate": "transformers",
    "kernel": "hf_tokens",
}


def cards_dir() -> Path:
    """The folder holding the card templates: inside the installed package, else the source tree's ``cards/``."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_cards", here.parent / "cards"):
        if (candidate / "model.md.j2").is_file():
            return candidate
    raise FileNotFoundError(
        f"hf_tokens card templates not found (looked in {here / '_cards'} and {here.parent / 'cards'}); "
        "reinstall hf-tokens"
    )


@functools.lru_cache(maxsize=1)
def _environment(folder: str) -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
        autoescape=False,
    )


def _card_data(spec: MethodSpec, kind: str, base_model: str | None, tags: list[str], license: str | None) -> Any:
    from huggingface_hub import ModelCardData

    all_tags = ["hf_tokens", spec.id, spec.extension]
    if kind == "custom_generate":
        all_tags.append("custom_generate")
    if spec.arxiv:
        all_tags.append(f"arxiv:{spec.arxiv}")
    all_tags += [t for t in tags if t not in all_tags]
    return ModelCardData(
        library_name=_LIBRARY[kind],
        tags=all_tags,
        base_model=base_model,
        license=license,
    )


def render_card(
    method_id: str,
    kind: str | None = None,
    *,
    base_model: str | None = None,
    config: Any = None,
    metrics: list[dict[str, Any]] | None = None,
    usage: str | None = None,
    tags: list[str] | None = None,
    license: str | None = None,
    **context: Any,
) -> Any:
    """Render the model card of an artefact made with ``method_id`` as a ``huggingface_hub.ModelCard``.

    ``kind`` is one of the kinds the method exports (``spec.card_kinds``; default: the method's own kind).
    ``config`` may be a dataclass, an object with ``to_dict()`` or a dict; ``metrics`` rows use the benchmark schema
    (the artefact's own measurements). The "Results" section is rendered from the committed result rows behind the
    method's headline (value, baseline, ratio, hardware) with the command that reproduces them.
    Other keyword arguments (``name``, ``description``, ``training``, ``repo_id``, ``source_tokenizer`` ...) reach
    the template as variables.
    """
    from huggingface_hub import ModelCard

    spec = get(method_id)
    kind = kind or spec.card_kind
    if kind not in CARD_KINDS:
        raise ValueError(f"kind must be one of {CARD_KINDS}, got {kind!r}")
    if kind not in spec.card_kinds:
        what = "is planned (not implemented) and" if not spec.implemented else f"({spec.extension})"
        raise ValueError(
            f"method {spec.id!r} {what} exports only {' / '.join(spec.card_kinds)} artefacts; kind {kind!r} is not "
            "one of them"
        )
    if metrics is not None and not isinstance(metrics, list):
        raise TypeError(f"metrics must be a list of benchmark rows (dicts), got {type(metrics).__name__}")
    data = _card_data(spec, kind, base_model, list(tags or []), license)
    template = _environment(str(cards_dir())).get_template(f"{kind}.md.j2")
    defaults = {"name": None, "description": None, "training": None, "repo_id": None, "source_tokenizer": None}
    text = template.render(
        card_data=data.to_yaml(),
        spec=spec,
        base_model=base_model,
        config=config_to_dict(config),
        metrics=metrics or [],
        usage=usage or spec.usage,
        benchmark=spec.benchmark,
        results=results_section(spec),
        **{**defaults, **context},
    )
    return ModelCard(text)


def results_section(spec: MethodSpec) -> dict[str, Any] | None:
    """The card's "Results": the headline and the result rows behind it, as display strings (``None``: no headline).

    A headline whose result file or row is missing yields ``{"error": ...}`` (the card says so) rather than a
    number that the committed results do not show.
    """
    from hf_tokens.results import Headline, HeadlineError

    if not isinstance(spec.headline, Headline):
        return None
    try:
        text, views = spec.headline_text(), spec.headline_rows()
    except HeadlineError as exc:
        return {"error": str(exc), "benchmark": spec.benchmark}
    rows, files = [], spec.headline.files()
    for view in views.values():
        row = view.as_dict()
        threads = row.get("threads")
        hardware = f"{row.get('hardware', '-')}, {threads} thread{'s' if threads != 1 else ''}" if threads else "-"
        rows.append(
            {
                "result": f"{row.get('method')}: {row.get('metric')}",
                "value": _number(row.get("value")),
                "baseline": row.get("baseline") or "-",
                "baseline_value": _number(row.get("baseline_value")),
                "ratio": _number(row.get("ratio")),
                "hardware": f"{hardware} ({row.get('device', 'cpu')})",
            }
        )
    return {"headline": text, "rows": rows, "files": files, "benchmark": spec.benchmark}


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def config_to_dict(config: Any) -> dict[str, Any] | None:
    """A JSON-able dict from a dataclass config, a ``to_dict()`` object, or a dict (``None`` stays ``None``)."""
    import dataclasses
    import json

    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        data = dataclasses.asdict(config)
    elif hasattr(config, "to_dict"):
        data = config.to_dict()
    elif isinstance(config, dict):
        data = dict(config)
    else:
        raise TypeError(f"config must be a dataclass, a dict or have to_dict(), got {type(config).__name__}")
    return json.loads(json.dumps(data, default=str))
