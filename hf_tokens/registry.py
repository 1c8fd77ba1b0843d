"""The registry of methods: one :class:`MethodSpec` per paper id, whether implemented yet or not.

The 52 papers are listed in :mod:`hf_tokens.catalogue` and start as ``planned``. A method that gets implemented
registers itself from its own package's ``__init__.py`` (strings only, so nothing heavy is imported)::

    # hf_tokens/cache/h2o/__init__.py
    from hf_tokens.registry import lazy_exports, register
    from hf_tokens.results import Headline

    register(
        "h2o",
        status="experimental",
        entry="hf_tokens.cache.h2o.cache:H2OCache",
        config="hf_tokens.cache.h2o.cache:H2OConfig",
        contract="hf_tokens.cache.h2o.cache:contract",
        headline=Headline(
            "ppl x{h.ratio:.3f} of full cache at 20% KV budget",
            file="bench_results/kv_cache_targets_pooled.json",
            rows={"h": {"method": "h2o@20%", "metric": "ppl"}},
        ),
        benchmark="python benchmarks/kv_cache_pool.py ...",
    )
    __getattr__, __dir__ = lazy_exports(__name__, {"H2OCache": ".cache", "H2OConfig": ".cache"})

Method packages are found by :func:`discover`, which imports every package below the extension-point folders
(``hf_tokens/cache``, ``hf_tokens/generation`` ...). It runs on the first query, never at ``import hf_tokens``.

A headline is a :class:`~hf_tokens.results.Headline`: a format string over rows of a committed result file, rendered
when asked for (``spec.headline_text()``), so the README table and model cards always show the numbers of the run.

``contract`` names a callable used by the contract suites in ``tests/suites`` (one per extension point). What it
returns depends on the extension point; see ``tests/suites/README.md``.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterable
from typing import Any

from hf_tokens.catalogue import PAPERS
from hf_tokens.results import Headline, HeadlineError, RowView

STATUSES = ("planned", "experimental", "stable")
EXTENSION_POINTS = (
    "cache",
    "generation",
    "logits",
    "attention",
    "ops",
    "trainers",
    "tokenizers",
    "pipelines",
    "models",
    "quantization",
    "analysis",
)
# Sub-packages of hf_tokens scanned for method packages: one per extension point.
_METHOD_ROOTS = EXTENSION_POINTS


class UnknownMethodError(KeyError):
    """Raised for an id that is not one of the 52 papers' ids."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One paper's method as the library knows it."""

    id: str
    area: str
    extension: str
    title: str
    arxiv: str
    summary: str
    status: str = "planned"
    entry: str | None = None
    config: str | None = None
    contract: str | None = None
    headline: Headline | str | None = None
    benchmark: str | None = None
    card_kind: str = "model"
    package: str | None = None
    usage: str | None = None
    demo: str | None = None
    run_kwargs: str | None = None

    @property
    def module_name(self) -> str:
        """The id as a Python identifier (``token-recycling`` -> ``token_recycling``)."""
        return self.id.replace("-", "_")

    @property
    def implemented(self) -> bool:
        return self.status != "planned"

    @property
    def paper_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else ""

    def load(self, what: str = "entry") -> Any:
        """Import and return the object named by ``entry``, ``config`` or ``contract``."""
        if what not in ("entry", "config", "contract", "demo", "run_kwargs"):
            raise ValueError(f"what must be 'entry', 'config', 'contract', 'demo' or 'run_kwargs', got {what!r}")
        target = getattr(self, what)
        if target is None:
            raise LookupError(f"method {self.id!r} ({self.status}) has no {what}; it is not implemented yet")
        return load_object(target)

    @property
    def card_kinds(self) -> tuple[str, ...]:
        """The artefact kinds this method can export (and so render a card for); a planned method: its default."""
        if not self.implemented:
            return (self.card_kind,)
        return tuple(dict.fromkeys((self.card_kind, *_EXTRA_CARD_KINDS.get(self.extension, ()))))

    def headline_text(self) -> str | None:
        """The headline with its numbers read from the committed results (:class:`HeadlineError` if it cannot be)."""
        if isinstance(self.headline, Headline):
            try:
                return self.headline.render()
            except HeadlineError as exc:
                raise HeadlineError(f"{self.id}: {exc}") from None
        return self.headline

    def headline_rows(self) -> dict[str, RowView]:
        """The result rows behind the headline, by alias (empty for a method without a :class:`Headline`)."""
        if not isinstance(self.headline, Headline):
            return {}
        try:
            return self.headline.resolve()
        except HeadlineError as exc:
            raise HeadlineError(f"{self.id}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["paper_url"] = self.paper_url
        if isinstance(self.headline, Headline):
            data["headline_source"] = self.headline.to_dict()
            try:
                data["headline"] = self.headline_text()
            except HeadlineError as exc:
                data["headline"], data["headline_error"] = None, str(exc)
        return data


_CATALOGUE: dict[str, MethodSpec] = {
    pid: MethodSpec(id=pid, area=area, extension=ext, arxiv=arxiv, title=title, summary=summary)
    for pid, area, ext, arxiv, title, summary in PAPERS
}
_REGISTERED: dict[str, MethodSpec] = {}
_DISCOVERED = False
_LOCK = threading.RLock()


def load_object(target: str) -> Any:
    """Import ``"package.module:Name"`` and return ``Name``."""
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(f"expected 'module:Name', got {target!r}")
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def register(
    id: str,
    *,
    status: str = "experimental",
    entry: str | None = None,
    config: str | None = None,
    contract: str | None = None,
    headline: Headline | str | None = None,
    benchmark: str | None = None,
    card_kind: str = "model",
    extension: str | None = None,
    package: str | None = None,
    usage: str | None = None,
    demo: str | None = None,
    run_kwargs: str | None = None,
) -> MethodSpec:
    """Record the implementation of paper ``id``. Called from the method's own ``__init__.py``.

    ``entry``/``config``/``contract`` are ``"module:Name"`` strings, imported only when asked for. ``headline`` is the
    measured result shown in the README table and model cards, a :class:`~hf_tokens.results.Headline` referencing
    rows of a committed result file (checked here for syntax, read when rendered), ``benchmark`` the command that
    reproduces it, ``usage`` a short
    copy-paste code example (README and model cards), ``card_kind`` the model-card template of its artefacts, and
    ``demo`` an optional ``"module:function"`` used by ``hf-tokens run`` for methods that are not a cache or a
    generation strategy: ``demo(model, tokenizer, prompt, max_new_tokens) -> dict`` with ``"text"`` and measured
    effects; ``run_kwargs`` an optional ``"module:function"`` ``(model, tokenizer) -> dict`` of the extra ``generate``
    arguments a generation strategy needs in ``hf-tokens run`` (a draft model, the tokenizer ...).
    """
    if id not in _CATALOGUE:
        raise UnknownMethodError(f"unknown method id {id!r}; ids are the 52 in papers.md (see `hf-tokens list`)")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if status != "planned" and not entry:
        raise ValueError(f"method {id!r}: an implemented method (status={status!r}) needs entry='module:Name'")
    for name, value in (
        ("entry", entry),
        ("config", config),
        ("contract", contract),
        ("demo", demo),
        ("run_kwargs", run_kwargs),
    ):
        if value is not None and (not isinstance(value, str) or ":" not in value):
            raise ValueError(f"{name} must be a 'module:Name' string, got {value!r}")
    if extension is not None and extension not in EXTENSION_POINTS:
        raise ValueError(f"extension must be one of {EXTENSION_POINTS}, got {extension!r}")
    if headline is not None and not isinstance(headline, (Headline, str)):
        raise TypeError(f"headline must be a hf_tokens.results.Headline, got {type(headline).__name__}")
    if card_kind not in CARD_KINDS:
        raise ValueError(f"card_kind must be one of {CARD_KINDS}, got {card_kind!r}")
    base = _CATALOGUE[id]
    spec = dataclasses.replace(
        base,
        status=status,
        entry=entry,
        config=config,
        contract=contract,
        headline=headline,
        benchmark=benchmark,
        card_kind=card_kind,
        extension=extension or base.extension,
        package=package,
        usage=usage,
        demo=demo,
        run_kwargs=run_kwargs,
    )
    with _LOCK:
        _REGISTERED[id] = spec
    return spec


CARD_KINDS = ("model", "custom_generate", "kernel", "tokenizer")
# kinds an implemented method exports besides its own card_kind: a kernel op also trains models (its loss), a
# tokenizer converter writes a resized model beside the tokenizer
_EXTRA_CARD_KINDS = {"ops": ("model",), "tokenizers": ("model",), "generation": ("model",)}


def discover() -> None:
    """Import every method package below the extension-point folders so that their ``register`` calls run."""
    global _DISCOVERED
    with _LOCK:
        if _DISCOVERED:
            return
        _DISCOVERED = True
        for root in _METHOD_ROOTS:
            try:
                pkg = importlib.import_module(f"hf_tokens.{root}")
            except ModuleNotFoundError as exc:
                if exc.name == f"hf_tokens.{root}":
                    continue
                raise
            for info in pkgutil.iter_modules(pkg.__path__, prefix=f"{pkg.__name__}."):
                if info.ispkg:
                    importlib.import_module(info.name)


def get(id: str) -> MethodSpec:
    """The spec of method ``id`` (its registered implementation if any, else the planned entry)."""
    if not isinstance(id, str):
        raise TypeError(f"method id must be a str, got {type(id).__name__}")
    discover()
    if id in _REGISTERED:
        return _REGISTERED[id]
    if id in _CATALOGUE:
        return _CATALOGUE[id]
    close = [k for k in _CATALOGUE if id.replace("_", "-") == k]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownMethodError(f"unknown method id {id!r}{hint}; run `hf-tokens list` to see the 52 ids")


def all_specs(
    *, extension: str | None = None, status: str | Iterable[str] | None = None, implemented: bool | None = None
) -> list[MethodSpec]:
    """All 52 specs in papers.md order, optionally filtered."""
    discover()
    statuses = {status} if isinstance(status, str) else set(status) if status is not None else None
    out = []
    for pid in _CATALOGUE:
        spec = _REGISTERED.get(pid, _CATALOGUE[pid])
        if extension is not None and spec.extension != extension:
            continue
        if statuses is not None and spec.status not in statuses:
            continue
        if implemented is not None and spec.implemented != implemented:
            continue
        out.append(spec)
    return out


def lazy_exports(module_name: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__``/``__dir__`` that import ``name`` from a submodule on first access.

    ``exports`` maps a public name to a module path, absolute or relative to ``module_name`` (``".cache"``).
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        target = exports[name]
        module = importlib.import_module(target, package=module_name if target.startswith(".") else None)
        return getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__


def public_exports() -> dict[str, str]:
    """Public class/function names of implemented methods -> ``"module:Name"``, for ``hf_tokens.<Name>``."""
    out: dict[str, str] = {}
    for spec in all_specs(implemented=True):
        for target in (spec.entry, spec.config):
            if target:
                out[target.rpartition(":")[2].split(".")[0]] = target
    return out
