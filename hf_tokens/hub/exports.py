"""Self-contained Hub artefacts: code repositories that run where ``hf_tokens`` is not installed.

* :func:`export_custom_generate` — a ``custom_generate/`` repository for a generation strategy:
  ``model.generate(..., custom_generate=<folder or repo>, trust_remote_code=True)``;
* :func:`export_modeling_code` — a model folder with its modeling/config code and ``auto_map`` in ``config.json``:
  ``AutoModel*.from_pretrained(<folder or repo>, trust_remote_code=True)``.

Both vendor the code they need (:mod:`hf_tokens.hub.vendor`): the method's modules and the closure of their
``hf_tokens`` imports become flat sibling files, so a Hub user needs only torch, transformers and the PyPI packages
that code imports. Limits of transformers' loader that shape the layout are in :mod:`hf_tokens.hub.vendor`.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from hf_tokens.hub.cards import render_card
from hf_tokens.hub.publish import _atomic_folder, _write_metadata
from hf_tokens.hub.vendor import lazy_export_target, vendor_modules
from hf_tokens.registry import MethodSpec, get

_GENERATE_PY = '''"""custom_generate entry point of the hf_tokens method `{id}` ({title}).

Loaded by transformers for `model.generate(..., custom_generate=<this repo>, trust_remote_code=True)`. Self-contained:
the method's code and what it uses from hf_tokens are vendored as the sibling files of this folder; it needs only
the packages in requirements.txt.
"""

{import_line}

__all__ = ["generate"]
'''


def _generate_module(spec: MethodSpec) -> str:
    """The module whose ``generate`` backs the repository: ``<package>.custom_generate`` if the method has one, else
    the module of its entry when the entry is a ``generate`` function, else the one its package lazily exports
    ``generate`` from."""
    if spec.extension != "generation" or not spec.implemented or not spec.entry:
        raise ValueError(
            f"method {spec.id!r} is not an implemented generation strategy (extension={spec.extension!r}, "
            f"status={spec.status!r}); only those export a custom_generate repository"
        )
    entry_module, _, entry_name = spec.entry.partition(":")
    package = spec.package or ".".join(entry_module.split(".")[:3])
    candidates = [f"{package}.custom_generate"] + ([entry_module] if entry_name == "generate" else [])
    candidates += [m for m in [lazy_export_target(package, "generate")] if m]
    for name in candidates:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        if callable(getattr(module, "generate", None)):
            return name
    raise ValueError(f"{spec.id}: none of {candidates} has a callable `generate` to back a custom_generate repository")


def export_custom_generate(
    method_id: str, folder: str | os.PathLike[str], *, overwrite: bool = False, **card_context: Any
) -> Path:
    """Write a self-contained Hub ``custom_generate`` repository for a generation method into ``folder``.

    ``custom_generate/generate.py`` imports ``generate`` from the vendored method code beside it,
    ``custom_generate/requirements.txt`` lists the PyPI packages that code imports (``name>=version``, the form
    transformers checks), ``README.md`` is our card. Load it with
    ``model.generate(..., custom_generate=folder_or_repo_id, trust_remote_code=True)``; ``hf_tokens`` need not be
    installed there. The folder is written atomically (nothing half-written on error).
    """
    spec = get(method_id)
    module_name = _generate_module(spec)
    card = render_card(method_id, "custom_generate", **card_context)

    def write(tmp: Path) -> None:
        sub = tmp / "custom_generate"
        vendored = vendor_modules([module_name], sub, reserved=("generate",))
        stem = vendored.files[module_name]
        import_line = f"from .{stem} import generate"
        (sub / "generate.py").write_text(_GENERATE_PY.format(id=spec.id, title=spec.title, import_line=import_line))
        (sub / "requirements.txt").write_text("".join(f"{r}\n" for r in vendored.requirements))
        _write_metadata(tmp, spec, None)
        card.save(tmp / "README.md")

    return _atomic_folder(folder, write, overwrite=overwrite)


def auto_classes_of(config_cls: type) -> dict[str, type]:
    """``{"AutoModelForCausalLM": ModelClass, ...}``: the Auto model classes ``config_cls`` is registered with."""
    from transformers.models.auto import modeling_auto

    out = {}
    for name in sorted(dir(modeling_auto)):
        auto = getattr(modeling_auto, name)
        mapping = getattr(auto, "_model_mapping", None)
        if name.startswith("AutoModel") and isinstance(auto, type) and mapping is not None:
            model_cls = mapping.get(config_cls, None)
            if isinstance(model_cls, type):
                out[name] = model_cls
    return out


def export_modeling_code(
    model_or_config: Any,
    folder: str | os.PathLike[str],
    *,
    method_id: str | None = None,
    overwrite: bool = False,
    **card_context: Any,
) -> Path:
    """Save a model (weights + config) or a config into ``folder`` together with its modeling/config code, with
    ``auto_map`` in ``config.json``, so ``AutoConfig``/``AutoModel*.from_pretrained(folder, trust_remote_code=True)``
    works without ``hf_tokens``.

    The config class must be registered with ``AutoConfig`` and the model with at least one ``AutoModel*`` class;
    every Auto class it is registered with goes into ``auto_map``. With ``method_id``, our model card and
    ``hf_tokens.json`` are written too. The folder is written atomically.
    """
    from transformers import PretrainedConfig, PreTrainedModel
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if isinstance(model_or_config, PreTrainedModel):
        model, config = model_or_config, model_or_config.config
    elif isinstance(model_or_config, PretrainedConfig):
        model, config = None, model_or_config
    else:
        raise TypeError(f"model_or_config must be a PreTrainedModel or PretrainedConfig, got {type(model_or_config)}")
    config_cls = type(config)
    try:
        registered = CONFIG_MAPPING[config.model_type]  # (its .get ignores registered configs)
    except KeyError:
        registered = None
    if registered is not config_cls:
        raise ValueError(
            f"{config_cls.__name__} is not registered with AutoConfig under model_type {config.model_type!r}; call "
            f"AutoConfig.register({config.model_type!r}, {config_cls.__name__}) first"
        )
    models = auto_classes_of(config_cls)
    if not models:
        raise ValueError(
            f"no AutoModel* class is registered for {config_cls.__name__}; call e.g. "
            f"AutoModelForCausalLM.register({config_cls.__name__}, YourModel)"
        )
    spec = get(method_id) if method_id is not None else None
    card = render_card(method_id, "model", **card_context) if method_id is not None else None
    classes = {"AutoConfig": config_cls, **models}

    def write(tmp: Path) -> None:
        vendored = vendor_modules(sorted({cls.__module__ for cls in classes.values()}), tmp)
        (model or config).save_pretrained(tmp)
        data = json.loads((tmp / "config.json").read_text())
        data["auto_map"] = {auto: f"{vendored.files[cls.__module__]}.{cls.__name__}" for auto, cls in classes.items()}
        (tmp / "config.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        if spec is not None and card is not None:
            _write_metadata(tmp, spec, None)
            card.save(tmp / "README.md")

    return _atomic_folder(folder, write, overwrite=overwrite)
