"""The committed Hub kernel project ``kernels/linear_cross_entropy`` is generated from the op and stays in sync."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hf_tokens.ops.linear_cross_entropy import export_kernel

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "kernels" / "linear_cross_entropy"


def test_committed_kernel_project_is_in_sync():
    problems = export_kernel.diff(FOLDER)
    assert not problems, (
        f"{problems}: run `python -m hf_tokens.ops.linear_cross_entropy.export_kernel kernels/linear_cross_entropy`"
    )


def test_no_package_at_kernels_root():
    # a top-level `kernels` package would shadow the PyPI `kernels` library
    assert not (ROOT / "kernels" / "__init__.py").exists()


def test_export_writes_a_standalone_package(tmp_path):
    out = export_kernel.export(tmp_path / "linear_cross_entropy")
    assert export_kernel.diff(out) == []
    pkg = out / "torch-ext" / "linear_cross_entropy"
    for path in pkg.glob("*.py"):
        imports = [line for line in path.read_text().splitlines() if re.match(r"\s*(from|import)\s+hf_tokens", line)]
        assert not imports, (path.name, imports)
    name = "lce_exported_kernel"
    spec = importlib.util.spec_from_file_location(name, pkg / "__init__.py", submodule_search_locations=[str(pkg)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        torch.manual_seed(0)
        h = torch.randn(20, 16, requires_grad=True)
        w = torch.randn(70, 16)
        y = torch.randint(0, 70, (20,))
        torch.testing.assert_close(module.linear_cross_entropy(h, w, y, impl="reference"), F.cross_entropy(h @ w.T, y))
        assert module.linear_entropy(h, w).shape == (20,)
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def test_export_refuses_the_kernels_root(tmp_path):
    with pytest.raises(ValueError, match="kernel's own folder"):
        export_kernel.export(tmp_path / "kernels")
