"""Contract of every pipeline: a ``transformers.Pipeline`` registered through ``PIPELINE_REGISTRY`` so that
``transformers.pipeline(task, model=...)`` builds it; batched output equals one-at-a-time output; bad input raises a
clear ``ValueError``/``TypeError``.

The checks are plain functions; the tests at the bottom run them on the fixtures of
``tests/suites/fixtures/pipelines.py`` (a correct pipeline passes all of them; each broken one fails its check).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import transformers

from tests.suites._common import contract_of, implemented

SPECS = implemented("pipelines")
KEYS = ("task", "pipeline_cls", "make_pipeline_kwargs", "inputs", "bad_inputs")


def _pipeline(contract: dict[str, Any]) -> Any:
    return transformers.pipeline(contract["task"], **contract["make_pipeline_kwargs"]())


def check_registered(contract: dict[str, Any]) -> None:
    from transformers.pipelines import PIPELINE_REGISTRY

    cls, task = contract["pipeline_cls"], contract["task"]
    assert isinstance(cls, type) and issubclass(cls, transformers.Pipeline), f"{cls} is not a transformers.Pipeline"
    assert task in PIPELINE_REGISTRY.get_supported_tasks(), f"task {task!r} is not registered in PIPELINE_REGISTRY"
    assert PIPELINE_REGISTRY.check_task(task)[1]["impl"] is cls, f"task {task!r} is registered to another class"
    pipe = _pipeline(contract)
    assert type(pipe) is cls, f"pipeline({task!r}) built a {type(pipe).__name__}"


def assert_same_output(got: Any, want: Any, atol: float, where: str = "output") -> None:
    """Equal structure and values; floats (and float tensors) within ``atol`` (batched forwards may differ in the
    last bits), everything else exactly."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            assert_same_output(got[key], want[key], atol, f"{where}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), f"{where}: {len(got)} items != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_output(g, w, atol, f"{where}[{i}]")
    elif isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor) and got.shape == want.shape, f"{where}: tensor shapes differ"
        if want.is_floating_point():
            torch.testing.assert_close(got, want, rtol=0, atol=atol, msg=f"{where}: tensors differ")
        else:
            assert torch.equal(got, want), f"{where}: tensors differ"
    elif isinstance(want, float) and not isinstance(got, bool):
        assert isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=0, abs_tol=atol), (
            f"{where}: {got!r} != {want!r} (atol {atol})"
        )
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def check_batch_equals_single(contract: dict[str, Any]) -> None:
    inputs, call_kwargs = list(contract["inputs"]), contract.get("call_kwargs", {})
    assert len(inputs) >= 2, "give at least two inputs (of different lengths) to compare batching"
    pipe = _pipeline(contract)
    single = [pipe(x, **call_kwargs) for x in inputs]
    batched = pipe(inputs, batch_size=len(inputs), **call_kwargs)
    assert_same_output(batched, single, contract.get("atol", 1e-5), where="batched output")


def check_bad_input(contract: dict[str, Any]) -> None:
    """Each of ``bad_inputs`` (with ``call_kwargs``), and the first valid input with each of ``bad_call_kwargs``,
    raises ``ValueError``/``TypeError`` with a message."""
    assert contract["bad_inputs"], "declare bad inputs (each must raise ValueError or TypeError)"
    pipe = _pipeline(contract)
    call_kwargs = contract.get("call_kwargs", {})
    calls = [(bad, call_kwargs) for bad in contract["bad_inputs"]]
    calls += [(contract["inputs"][0], {**call_kwargs, **bad}) for bad in contract.get("bad_call_kwargs", [])]
    for bad, kwargs in calls:
        what = f"bad input {bad!r} with {kwargs}"
        try:
            result = pipe(bad, **kwargs)
        except (ValueError, TypeError) as exc:
            assert str(exc).strip(), f"{what} raised {type(exc).__name__} without a message"
        else:
            raise AssertionError(f"{what} was accepted (returned {result!r})")


# --- the registered methods --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_registered_and_built_by_transformers_pipeline(spec):
    check_registered(contract_of(spec, KEYS))


@pytest.mark.parametrize("spec", SPECS)
def test_usage_imports_register_the_task(spec):
    """The imports a method's usage string shows are enough for ``pipeline(task, ...)``, in a fresh process."""
    import subprocess
    import sys

    task = contract_of(spec, KEYS)["task"]
    imports = [line.split("  #")[0] for line in spec.usage.splitlines() if line.startswith(("import ", "from "))]
    code = "\n".join(
        [
            *imports,
            "from transformers.pipelines import PIPELINE_REGISTRY",
            f"print({task!r} in PIPELINE_REGISTRY.get_supported_tasks())",
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("True"), f"{spec.id}: its usage imports do not register {task!r}"


@pytest.mark.parametrize("spec", SPECS)
def test_batched_output_equals_single(spec):
    check_batch_equals_single(contract_of(spec, KEYS))


@pytest.mark.parametrize("spec", SPECS)
def test_bad_input_raises(spec):
    check_bad_input(contract_of(spec, KEYS))


# --- the suite's own tests: a correct fixture passes, each broken fixture fails its check -----------------------


def _fixture(name: str) -> dict[str, Any]:
    from tests.suites.fixtures import pipelines

    return getattr(pipelines, name)()


def test_correct_pipeline_passes_every_check():
    contract = _fixture("contract")
    check_registered(contract)
    check_batch_equals_single(contract)
    check_bad_input(contract)


@pytest.mark.parametrize(
    ("fixture", "check", "match"),
    [
        ("unregistered", check_registered, "not registered"),
        ("ignores_mask", check_batch_equals_single, "batched output"),
        ("lenient", check_bad_input, "was accepted"),
    ],
)
def test_broken_pipeline_fails_its_check(fixture, check, match):
    with pytest.raises(AssertionError, match=match):
        check(_fixture(fixture))


def test_output_comparison():
    assert_same_output({"a": [1.0, "x"]}, {"a": [1.0 + 1e-7, "x"]}, 1e-6)
    for got in ({"a": [1.1, "x"]}, {"a": [1.0, "y"]}, {"a": [1.0]}, {"b": [1.0, "x"]}):
        with pytest.raises(AssertionError):
            assert_same_output(got, {"a": [1.0, "x"]}, 1e-6)
