"""Helpers shared by the contract suites."""

from __future__ import annotations

from typing import Any

import pytest

from hf_tokens.registry import MethodSpec, all_specs


def implemented(extension: str) -> list[Any]:
    """pytest params of the implemented methods of one extension point (ids = method ids)."""
    return [pytest.param(spec, id=spec.id) for spec in all_specs(extension=extension, implemented=True)]


def contract_of(spec: MethodSpec, required: tuple[str, ...]) -> dict[str, Any]:
    """Load a method's contract dict and check it has the keys its suite needs."""
    assert spec.contract, f"{spec.id} is implemented but registers no contract= (see tests/suites/README.md)"
    contract = spec.load("contract")()
    assert isinstance(contract, dict), f"{spec.contract} must return a dict, got {type(contract).__name__}"
    missing = [k for k in required if k not in contract]
    assert not missing, f"{spec.id}'s contract lacks {missing}"
    return contract
