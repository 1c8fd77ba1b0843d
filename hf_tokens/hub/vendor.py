"""Vendoring: copy the ``hf_tokens`` modules a Hub artefact needs into its folder, so it runs where ``hf_tokens`` is
not installed (only torch/transformers and the PyPI packages the code imports).

transformers' remote-code loader (``custom_generate/generate.py``, ``auto_map`` modeling files) copies a file and the
*sibling* files it names in ``from .<name> import ...`` lines, found by a regular expression
(``transformers.dynamic_module_utils.get_relative_imports``): sub-folders, ``from . import x`` and ``from ..x`` are
not followed. So the vendored modules are flat sibling files (``hf_tokens.generation.tree.decode`` ->
``generation_tree_decode.py``) and every ``hf_tokens`` import is rewritten into a ``from .<file> import`` line.

The closure is found statically (:mod:`ast`): every ``import`` statement, including those inside functions (lazy
imports the code uses at run time), but not those under ``if TYPE_CHECKING:`` (dropped). What cannot be vendored fails
loudly with :class:`VendoringError`: a module without source, ``import hf_tokens.x`` without ``as``, a package
imported as a module object, a name a package's ``__init__`` neither defines nor lazily exports (``lazy_exports``
maps are followed to the defining module), an ``importlib.import_module("hf_tokens...")`` call, or a third-party
import that is neither the standard library nor an installed distribution.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import importlib.util
import keyword
import re
import sys
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "hf_tokens"
_DYNAMIC_IMPORTERS = ("import_module", "__import__", "find_spec", "load_object")


class VendoringError(ValueError):
    """A module an artefact needs cannot be vendored (the message names the module, the line and what to change)."""


@dataclasses.dataclass
class Vendored:
    """What :func:`vendor_modules` wrote: module name -> file stem, and the PyPI requirements of the copied code."""

    files: dict[str, str]
    requirements: list[str]


@dataclasses.dataclass
class _Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    source: str


def package_root() -> Path:
    """The folder of the ``hf_tokens`` package being exported (this file's grandparent)."""
    return Path(__file__).resolve().parents[1]


def flat_name(module: str) -> str:
    """The sibling-file stem of a module: ``hf_tokens.generation.tree.decode`` -> ``generation_tree_decode``."""
    parts = module.split(".")
    if parts[0] == PACKAGE and len(parts) > 1:
        parts = parts[1:]
    return "_".join(parts)


def _internal(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _locate(module: str) -> tuple[Path, bool] | None:
    """Source file of ``module`` and whether it is a package; ``None`` when it does not exist."""
    if _internal(module):
        base = package_root().joinpath(*module.split(".")[1:])
        if (base / "__init__.py").is_file():
            return base / "__init__.py", True
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py"), False
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin), spec.submodule_search_locations is not None


def _load(module: str, needed_by: str) -> _Module:
    found = _locate(module)
    if found is None:
        raise VendoringError(f"cannot vendor {module!r} (needed by {needed_by}): no Python source file for it")
    path, is_package = found
    source = path.read_text(encoding="utf-8")
    return _Module(module, path, is_package, ast.parse(source, filename=str(path)), source)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(tree: ast.AST) -> Iterable[tuple[ast.AST, bool, bool]]:
    """Yield ``(node, under_type_checking, inside_try)`` for every node."""
    stack: list[tuple[ast.AST, bool, bool]] = [(tree, False, False)]
    while stack:
        node, typing_only, in_try = stack.pop()
        yield node, typing_only, in_try
        for child in ast.iter_child_nodes(node):
            child_typing = typing_only or (isinstance(node, ast.If) and _is_type_checking(node) and child in node.body)
            stack.append((child, child_typing, in_try or isinstance(node, ast.Try)))


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level (definitions, assignments, imports), statically."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def lazy_export_target(package: str, name: str) -> str | None:
    """The module a package's ``__init__`` lazily exports ``name`` from (``lazy_exports(__name__, {name: ".mod"})``,
    this project's convention), or ``None``."""
    found = _locate(package)
    if found is None or not found[1]:
        return None
    for node in ast.walk(ast.parse(found[0].read_text(encoding="utf-8"))):
        func = getattr(node, "func", None)
        if not (isinstance(node, ast.Call) and getattr(func, "id", getattr(func, "attr", None)) == "lazy_exports"):
            continue
        if len(node.args) < 2 or not isinstance(node.args[1], ast.Dict):
            continue
        for key, value in zip(node.args[1].keys, node.args[1].values):
            if isinstance(key, ast.Constant) and key.value == name and isinstance(value, ast.Constant):
                return importlib.util.resolve_name(str(value.value), package)
    return None


def _absolute(mod: _Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
    parts = package.split(".")
    if not package or node.level - 1 >= len(parts):
        raise VendoringError(f"{mod.path}:{node.lineno}: relative import beyond the top-level package")
    base = ".".join(parts[: len(parts) - (node.level - 1)])
    return f"{base}.{node.module}" if node.module else base


class _Plan:
    """The closure of the roots and, per module, the text replacements of its import statements."""

    def __init__(self, roots: list[str]):
        self.modules: dict[str, _Module] = {}
        self.edits: dict[str, list[tuple[ast.stmt, list[str]]]] = {}
        self.third_party: dict[str, str] = {}  # top-level import name -> where first seen
        queue = [(root, "the export") for root in roots]
        while queue:
            name, needed_by = queue.pop()
            if name in self.modules:
                continue
            mod = _load(name, needed_by)
            self.modules[name] = mod
            self.edits[name] = []
            queue.extend((dep, name) for dep in self._scan(mod))

    def where(self, mod: _Module, node: ast.AST) -> str:
        return f"{mod.path}:{getattr(node, 'lineno', '?')}"

    def _scan(self, mod: _Module) -> list[str]:
        deps: list[str] = []
        for node, typing_only, in_try in _walk(mod.tree):
            if isinstance(node, ast.Call):
                self._check_dynamic(mod, node)
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            targets = self._targets(mod, node)
            internal = [t for t in targets if _internal(t[0])]
            if internal and typing_only:
                self.edits[mod.name].append((node, ["pass  # type-only hf_tokens import dropped by vendoring"]))
                continue
            if internal:
                if len(internal) != len(targets):
                    raise VendoringError(f"{self.where(mod, node)}: split hf_tokens and other imports into two lines")
                lines, needed = self._rewrite(mod, node, internal)
                self.edits[mod.name].append((node, lines))
                deps.extend(needed)
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                raise VendoringError(
                    f"{self.where(mod, node)}: relative import of {targets[0][0]!r}, which is not part of hf_tokens "
                    "and cannot be vendored"
                )
            elif not typing_only and not in_try:
                for target, _, _ in targets:
                    top = target.split(".")[0]
                    if top:
                        self.third_party.setdefault(top, self.where(mod, node))
        return deps

    def _check_dynamic(self, mod: _Module, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name not in _DYNAMIC_IMPORTERS or not node.args:
            return
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _internal(arg.value.split(":")[0]):
            raise VendoringError(
                f"{self.where(mod, node)}: {name}({arg.value!r}) imports hf_tokens dynamically, which vendoring "
                "cannot follow; use a static import"
            )

    def _targets(self, mod: _Module, node: ast.Import | ast.ImportFrom) -> list[tuple[str, ast.alias, bool]]:
        """``(absolute module, alias, binds a module object)`` per imported name; ``from P import n`` names the
        module ``P.n`` when that is a module, else the module ``P`` lazily exports ``n`` from, else ``P``."""
        if isinstance(node, ast.Import):
            return [(alias.name, alias, True) for alias in node.names]
        base = _absolute(mod, node)
        out = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            is_module = alias.name != "*" and _internal(sub) and _locate(sub) is not None
            lazy = lazy_export_target(base, alias.name) if _internal(base) and not is_module else None
            out.append((sub if is_module else lazy or base, alias, is_module))
        return out

    def _rewrite(self, mod: _Module, node: ast.Import | ast.ImportFrom, targets: list) -> tuple[list[str], list[str]]:
        lines: list[str] = []
        from_names: dict[str, list[str]] = {}
        for target, alias, is_module in targets:
            if isinstance(node, ast.Import) and alias.asname is None:
                parent, _, leaf = alias.name.rpartition(".")
                raise VendoringError(
                    f"{self.where(mod, node)}: `import {alias.name}` binds the name hf_tokens, which a vendored copy "
                    f"cannot provide; write `from {parent} import {leaf}`"
                )
            if is_module:
                found = _locate(target)
                if found is None or found[1]:
                    raise VendoringError(
                        f"{self.where(mod, node)}: {target!r} is imported as a module object but is "
                        f"{'missing' if found is None else 'a package'}; import the names you use from the modules "
                        "that define them"
                    )
                stem, bound = flat_name(target), alias.asname or alias.name.rpartition(".")[2]
                # the first line makes transformers' loader copy the file (it only follows `from .x import` lines)
                lines += [f"from .{stem} import __name__ as _vendored_{stem}", f"from . import {stem} as {bound}"]
                continue
            if alias.name != "*":
                self._check_bound(mod, node, target, alias.name)
            entry = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            from_names.setdefault(flat_name(target), []).append(entry)
        lines += [f"from .{stem} import {', '.join(names)}" for stem, names in from_names.items()]
        return lines, [target for target, _, _ in targets]

    def _check_bound(self, mod: _Module, node: ast.AST, target: str, name: str) -> None:
        found = _locate(target)
        if found is None:
            raise VendoringError(f"{self.where(mod, node)}: cannot vendor {target!r}: no Python source file for it")
        path, is_package = found
        if is_package and name not in _top_level_names(ast.parse(path.read_text(encoding="utf-8"))):
            raise VendoringError(
                f"{self.where(mod, node)}: {name!r} is neither defined in {target}/__init__.py nor lazily exported "
                "there; import it from the module that defines it"
            )


def _replace(mod: _Module, edits: list[tuple[ast.stmt, list[str]]]) -> str:
    lines = mod.source.splitlines(keepends=True)
    for node, new in sorted(edits, key=lambda e: (e[0].lineno, e[0].col_offset), reverse=True):
        start, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        head, tail = lines[start][: node.col_offset], lines[end][node.end_col_offset or 0 :].strip()
        if head.strip() or (tail and not tail.startswith("#")):
            raise VendoringError(f"{mod.path}:{node.lineno}: put this hf_tokens import on a line of its own")
        text = "".join(f"{head}{line}\n" for line in new)
        lines[start : end + 1] = [text]
    return "".join(lines)


def _requirements(third_party: dict[str, str]) -> list[str]:
    """Distributions for the third-party top-level imports, with hf_tokens' own lower bound where it declares one
    (``name>=x.y``: the only form transformers' ``check_python_requirements`` reads besides a bare name)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    bounds: dict[str, str] = {}
    try:
        for line in importlib.metadata.requires("hf-tokens") or []:
            req = Requirement(line)
            lower = [s.version for s in req.specifier if s.operator in (">=", "==", "~=")]
            if lower and canonicalize_name(req.name) not in bounds:
                bounds[canonicalize_name(req.name)] = lower[0]
    except importlib.metadata.PackageNotFoundError:  # running from a source tree without metadata
        pass
    dists = importlib.metadata.packages_distributions()
    out: set[str] = set()
    for top, where in sorted(third_party.items()):
        if top in sys.stdlib_module_names or top in sys.builtin_module_names:
            continue
        if top not in dists:
            raise VendoringError(
                f"{where}: imports {top!r}, which is neither hf_tokens, the standard library nor an installed "
                "distribution; it cannot be vendored"
            )
        for dist in dists[top]:
            name = canonicalize_name(dist)
            out.add(f"{name}>={bounds[name]}" if name in bounds else name)
    return sorted(out)


# What transformers.dynamic_module_utils.get_relative_imports matches: it reads text lines, docstrings included.
_LOADER_PATTERNS = (
    re.compile(r"^\s*import\s+\.(\S+)\s*$", re.MULTILINE),
    re.compile(r"^\s*from\s+\.(\S+)\s+import", re.MULTILINE),
)


def _check_loader_view(stem: str, text: str, files: set[str]) -> None:
    """Every sibling file transformers' loader will look for (a ``from .x import`` line, even inside a docstring)
    must be one that is written, or loading the artefact fails."""
    for pattern in _LOADER_PATTERNS:
        for name in pattern.findall(text):
            if name not in files:
                raise VendoringError(
                    f"{stem}.py has a line `from .{name} import ...` (code or text): transformers' loader would look "
                    f"for a sibling file {name}.py that the export does not have; reword that line"
                )


def vendor_modules(roots: Iterable[str], folder: str | Path, *, reserved: Iterable[str] = ()) -> Vendored:
    """Copy ``roots`` and the closure of their ``hf_tokens`` imports into ``folder`` as flat sibling files.

    ``roots`` are module names (``hf_tokens.*`` or any importable module with source, e.g. a model class's module);
    only ``hf_tokens`` imports are followed. ``reserved`` are file stems the caller writes itself (``generate``).
    Returns the module -> stem mapping and the PyPI requirements of the copied code. Raises
    :class:`VendoringError` before writing anything when a needed module cannot be vendored.
    """
    roots = list(roots)
    if not roots or not all(isinstance(r, str) and r for r in roots):
        raise ValueError(f"roots must be a non-empty list of module names, got {roots!r}")
    plan = _Plan(roots)
    stems: dict[str, str] = {}
    for name in plan.modules:
        stem = flat_name(name)
        if not stem.isidentifier() or keyword.iskeyword(stem) or stem in set(reserved) | {"__init__"}:
            raise VendoringError(f"module {name!r} maps to the file name {stem}.py, which is reserved or invalid")
        if stem in stems.values():
            other = next(k for k, v in stems.items() if v == stem)
            raise VendoringError(f"modules {other!r} and {name!r} both map to {stem}.py")
        stems[name] = stem
    texts = {}
    for name, mod in plan.modules.items():
        text = _replace(mod, plan.edits[name])
        try:
            rewritten = ast.parse(text)
        except SyntaxError as exc:  # pragma: no cover - a bug in the rewriting, not in the input
            raise VendoringError(f"rewriting {mod.path} produced invalid Python: {exc}") from exc
        for node, *_ in _walk(rewritten):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and _internal(node.module or ""):
                raise VendoringError(f"{mod.path}:{node.lineno}: an hf_tokens import is left after rewriting")
        relpath = mod.path.relative_to(package_root().parent) if _internal(name) else mod.path.name
        texts[stems[name]] = f"# Vendored from {relpath} by hf_tokens: its hf_tokens imports point to sibling files.\n"
        texts[stems[name]] += text
    for stem, text in texts.items():
        _check_loader_view(stem, text, set(texts) | set(reserved))
    requirements = _requirements(plan.third_party)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, text in texts.items():
        (folder / f"{stem}.py").write_text(text, encoding="utf-8")
    return Vendored(files=stems, requirements=requirements)
