"""Headline numbers as references to committed benchmark results, so a number cannot drift from its run.

A method's headline (README table, ``hf-tokens info``, model cards) is a :class:`Headline`: a format string whose
fields name rows of a JSON file under ``bench_results/`` (the schema of :mod:`hf_tokens.benchmarking`)::

    Headline(
        "ppl x{h.ratio:.3f} of full cache at 20% KV budget",
        file="bench_results/kv_cache_targets_pooled.json",
        rows={"h": {"method": "h2o@20%", "metric": "ppl"}},
    )

Each alias (``h``) selects exactly one row: every key of its selector must equal the row's field (a ``"file"`` key
reads another file). In the text, ``{h.value}``, ``{h.baseline_value}``, ``{h.ratio}`` and any other field of the row
(``{h.ci95[0]}``) are available, plus the file's top-level scalars (``{h.hardware}``, ``{h.threads}``) and three
derived views: ``{h.pct.value}`` (any numeric field x 100), ``{h.inverse}`` (``baseline_value / value``) and
``{h.change}`` (``ratio - 1``, e.g. ``{h.change:+.0%}``). The text is checked when the headline is built (aliases,
format specs); the numbers are read only when it is rendered. Rendering fails with :class:`HeadlineError` when a
file or row is missing, a selector matches several rows, or a value does not fit its format.
"""

from __future__ import annotations

import dataclasses
import json
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULTS_PREFIX = "bench_results/"
_SCALARS = (str, int, float, bool, type(None))


class HeadlineError(LookupError):
    """A headline that cannot be rendered from the committed results (missing file or row, ambiguous selector)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def results_dir() -> Path:
    """The folder of committed results: the source tree's ``bench_results/``, else the copy inside the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "bench_results", here / "_bench_results"):
        if candidate.is_dir():
            return candidate
    return here.parent / "bench_results"


_FILES: dict[tuple[str, int], dict[str, Any]] = {}


def load_results(file: str, root: Path | None = None) -> dict[str, Any]:
    """The parsed JSON of ``file`` (``"bench_results/<name>.json"``), cached while the file is unchanged."""
    path = (root or results_dir()) / file[len(RESULTS_PREFIX) :]
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise HeadlineError(f"result file {file} is not committed") from None
    if key not in _FILES:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise HeadlineError(f"result file {file} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise HeadlineError(f"result file {file} has no 'rows' list (the schema of hf_tokens.benchmarking)")
        _FILES[key] = data
    return _FILES[key]


class _Scaled:
    """``row.pct``: every numeric field (and list of numbers) multiplied by 100."""

    def __init__(self, row: RowView) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._row, name)
        if isinstance(value, list):
            return [v * 100 if isinstance(v, (int, float)) else v for v in value]
        return value * 100 if isinstance(value, (int, float)) and not isinstance(value, bool) else value


class RowView:
    """Attribute access to one result row (and its file's top-level scalars) for :meth:`str.format`."""

    def __init__(self, row: Mapping[str, Any], meta: Mapping[str, Any] | None = None, where: str = "") -> None:
        self._data = {**{k: v for k, v in (meta or {}).items() if isinstance(v, _SCALARS)}, **row}
        self._where = where

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "pct":
            return _Scaled(self)
        if name == "inverse":
            value, base = self._data.get("value"), self._data.get("baseline_value")
            return base / value if value and base is not None else None
        if name == "change":
            ratio = self._data.get("ratio")
            return ratio - 1 if ratio is not None else None
        if name not in self._data:
            raise HeadlineError(f"{self._where} has no field {name!r} (fields: {', '.join(sorted(self._data))})")
        return self._data[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)


class _Probe(float):
    """Stands in for a row when a headline is checked at registration: every field, item and view is a number."""

    def __getattr__(self, name: str) -> _Probe:
        return _Probe(1.0)

    def __getitem__(self, key: Any) -> _Probe:
        return _Probe(1.0)


@dataclasses.dataclass(frozen=True)
class Headline:
    """A headline text whose numbers come from rows of committed result files (see the module docstring)."""

    text: str
    rows: Mapping[str, Mapping[str, Any]]
    file: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("Headline text must be a non-empty format string")
        if not isinstance(self.rows, Mapping) or not self.rows:
            raise ValueError("Headline rows must map at least one alias to a row selector (a dict of row fields)")
        object.__setattr__(self, "rows", {k: dict(v) for k, v in self.rows.items()})
        if self.file is not None:
            _check_file(self.file, "Headline file")
        for alias, selector in self.rows.items():
            if not alias.isidentifier():
                raise ValueError(f"Headline alias {alias!r} must be a Python identifier")
            if not selector or not all(isinstance(k, str) and isinstance(v, _SCALARS) for k, v in selector.items()):
                raise ValueError(f"Headline row {alias!r}: the selector must be a non-empty dict of field -> scalar")
            if set(selector) == {"file"}:
                raise ValueError(f"Headline row {alias!r}: the selector names a file but no row field")
            file = selector.get("file", self.file)
            if file is None:
                raise ValueError(f"Headline row {alias!r}: no file (give Headline(file=...) or a 'file' key)")
            _check_file(file, f"Headline row {alias!r} file")
        try:
            fields = [(f, spec) for _, f, spec, _ in string.Formatter().parse(self.text) if f is not None]
        except ValueError as exc:
            raise ValueError(f"Headline text {self.text!r} is not a valid format string: {exc}") from None
        used = set()
        for field, spec in fields:
            alias = field.split(".")[0].split("[")[0]
            if alias not in self.rows:
                raise ValueError(f"Headline text names {{{field}}}, but {alias!r} is not one of {list(self.rows)}")
            if spec and "{" in spec:
                raise ValueError(f"Headline text: nested fields in format specs are not supported ({spec!r})")
            used.add(alias)
        try:
            self.text.format(**{a: _Probe(1.0) for a in self.rows})
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise ValueError(f"Headline text {self.text!r} is not a valid format string: {exc!r}") from None
        if unused := set(self.rows) - used:
            raise ValueError(f"Headline rows {sorted(unused)} are not used in the text")
        if not used:
            raise ValueError("Headline text has no {alias.field}: its numbers must come from the result rows")

    def __hash__(self) -> int:
        return hash((self.text, self.file, json.dumps(self.rows, sort_keys=True)))

    def files(self) -> list[str]:
        """The result files this headline reads, in order of first use."""
        return list(dict.fromkeys(s.get("file", self.file) for s in self.rows.values()))

    def resolve(self, root: Path | None = None) -> dict[str, RowView]:
        """Alias -> the one row its selector matches."""
        out = {}
        for alias, selector in self.rows.items():
            file = selector.get("file", self.file)
            assert file is not None  # checked in __post_init__
            data = load_results(file, root)
            want = {k: v for k, v in selector.items() if k != "file"}
            matches = [r for r in data["rows"] if all(k in r and r[k] == v for k, v in want.items())]
            if len(matches) != 1:
                what = "no row" if not matches else f"{len(matches)} rows"
                raise HeadlineError(f"{file}: {what} match {want} (headline row {alias!r}); exactly one must")
            meta = {k: v for k, v in data.items() if k != "rows"}
            out[alias] = RowView(matches[0], meta, where=f"{file} row {want}")
        return out

    def render(self, root: Path | None = None) -> str:
        """The headline text with the numbers read from the result files."""
        views = self.resolve(root)
        try:
            return self.text.format(**views)
        except HeadlineError:
            raise
        except (TypeError, ValueError) as exc:
            raise HeadlineError(f"headline {self.text!r}: a value does not fit its format ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "file": self.file, "rows": {k: dict(v) for k, v in self.rows.items()}}


def _check_file(file: Any, what: str) -> None:
    if not isinstance(file, str) or not file.startswith(RESULTS_PREFIX) or not file.endswith(".json"):
        raise ValueError(f"{what} must be a committed result 'bench_results/<name>.json', got {file!r}")
    if ".." in Path(file).parts:
        raise ValueError(f"{what} must stay inside bench_results/, got {file!r}")
