"""Contract of every analysis method: its report is strict JSON (no NaN/inf, no tensors or numpy scalars, string keys;
identical after ``json.dumps``/``json.loads``) and deterministic for a fixed seed (the same report twice, whatever
the global random state in between).

The checks are plain functions; the tests at the bottom run them on the fixtures of
``tests/suites/fixtures/analysis.py`` (a correct report passes both; each broken one fails its check).
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest
import torch

from tests.suites._common import contract_of, implemented

SPECS = implemented("analysis")
KEYS = ("make_report",)


def report_dict(report: Any) -> Any:
    """A report as plain data: a dict (or list) itself, else its ``to_dict()``."""
    if isinstance(report, (dict, list)):
        return report
    to_dict = getattr(report, "to_dict", None)
    assert callable(to_dict), f"a report is a dict or has to_dict(), got {type(report).__name__}"
    return to_dict()


def check_json(contract: dict[str, Any]) -> None:
    report = contract["make_report"](0)
    data = report_dict(report)
    try:
        text = json.dumps(data, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"the report is not strict JSON: {exc}") from exc
    assert json.loads(text) == data, "the report changes in a JSON round trip (tuples? non-str keys?)"
    from_dict = getattr(type(report), "from_dict", None)
    if callable(from_dict):
        assert report_dict(from_dict(json.loads(text))) == data, "from_dict(to_dict()) does not rebuild the report"


def _disturb_global_rngs() -> None:
    torch.manual_seed(12345)
    torch.rand(17)
    random.seed(12345)
    np.random.seed(12345)


def check_deterministic(contract: dict[str, Any]) -> None:
    first = json.dumps(report_dict(contract["make_report"](0)), sort_keys=True, default=repr)
    _disturb_global_rngs()
    second = json.dumps(report_dict(contract["make_report"](0)), sort_keys=True, default=repr)
    assert first == second, "the same seed gave two different reports"


# --- the registered methods --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_report_is_strict_json(spec):
    check_json(contract_of(spec, KEYS))


@pytest.mark.parametrize("spec", SPECS)
def test_report_is_deterministic_for_a_seed(spec):
    check_deterministic(contract_of(spec, KEYS))


# --- the suite's own tests: a correct fixture passes, each broken fixture fails its check -----------------------


def _fixture(name: str) -> dict[str, Any]:
    from tests.suites.fixtures import analysis

    return getattr(analysis, name)()


def test_correct_report_passes_every_check():
    contract = _fixture("contract")
    check_json(contract)
    check_deterministic(contract)


@pytest.mark.parametrize(
    ("fixture", "check", "match"),
    [
        ("keeps_tensor", check_json, "not strict JSON"),
        ("reports_nan", check_json, "not strict JSON"),
        ("int_keys", check_json, "JSON round trip"),
        ("global_rng", check_deterministic, "two different reports"),
    ],
)
def test_broken_report_fails_its_check(fixture, check, match):
    with pytest.raises(AssertionError, match=match):
        check(_fixture(fixture))
