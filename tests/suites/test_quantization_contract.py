"""Contract of every quantizer: an ``HfQuantizer`` registered for its ``QuantizationConfig`` so that
``from_pretrained(folder, quantization_config=...)`` quantizes; the quantized model holds packed (integer) weights
and runs; ``save_pretrained`` / ``from_pretrained`` is bit-exact on every stored tensor; the reloaded model runs
forward and gives exactly the logits the quantized model gave before saving.

The checks are plain functions; the tests at the bottom run them on the fixtures of
``tests/suites/fixtures/quantization.py`` (a correct quantizer passes all of them; each broken one fails its check).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from hf_tokens.testing import tiny_model
from tests.suites._common import contract_of, implemented

SPECS = implemented("quantization")
KEYS = ("config_cls", "quantizer_cls", "make_config")


def _inputs(vocab: int) -> torch.Tensor:
    return torch.randint(2, vocab, (2, 11), generator=torch.Generator().manual_seed(7))


def _quantized(contract: dict[str, Any], tmp_path: Path) -> Any:
    """The tiny float model (``model_arch``, default llama) saved, then loaded with the method's config."""
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "float"
    if not folder.exists():
        tiny_model(contract.get("model_arch", "llama")).save_pretrained(folder)
    return AutoModelForCausalLM.from_pretrained(folder, quantization_config=contract["make_config"]()).eval()


def _integer_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    return [k for k, v in state.items() if not v.is_floating_point() and not v.is_complex() and v.dtype != torch.bool]


def check_registered(contract: dict[str, Any]) -> None:
    from transformers.quantizers import HfQuantizer
    from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING
    from transformers.utils.quantization_config import QuantizationConfigMixin

    config_cls, quantizer_cls = contract["config_cls"], contract["quantizer_cls"]
    assert issubclass(config_cls, QuantizationConfigMixin) and issubclass(quantizer_cls, HfQuantizer)
    config = contract["make_config"]()
    assert isinstance(config, config_cls)
    method = config.quant_method
    assert AUTO_QUANTIZATION_CONFIG_MAPPING.get(method) is config_cls, f"config not registered for {method!r}"
    assert AUTO_QUANTIZER_MAPPING.get(method) is quantizer_cls, f"quantizer not registered for {method!r}"
    again = config_cls.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict(), "the config does not round-trip through its dict"


def check_quantizes(contract: dict[str, Any], tmp_path: Path) -> None:
    model = _quantized(contract, tmp_path)
    assert isinstance(model.hf_quantizer, contract["quantizer_cls"]), "from_pretrained did not use the quantizer"
    packed = _integer_tensors(model.state_dict())
    assert packed, "the quantized model stores no integer (packed) tensor"
    with torch.no_grad():
        logits = model(_inputs(model.config.vocab_size)).logits
    assert torch.isfinite(logits).all(), "the quantized model's logits are not finite"


def check_round_trip_bit_exact(contract: dict[str, Any], tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = _quantized(contract, tmp_path)
    model.save_pretrained(tmp_path / "quantized")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "quantized").eval()
    assert isinstance(again.hf_quantizer, contract["quantizer_cls"]), "reloading did not use the quantizer"
    before, after = model.state_dict(), again.state_dict()
    assert sorted(after) == sorted(before), f"stored tensors differ: {sorted(set(before) ^ set(after))[:6]}"
    for key, value in before.items():
        assert after[key].dtype == value.dtype, f"{key}: dtype {after[key].dtype} after reload, {value.dtype} before"
        assert torch.equal(after[key], value), f"{key} is not bit-exact after save/load"


def check_reloaded_forward(contract: dict[str, Any], tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = _quantized(contract, tmp_path)
    ids = _inputs(model.config.vocab_size)
    with torch.no_grad():
        before = model(ids).logits
    model.save_pretrained(tmp_path / "quantized")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "quantized").eval()
    try:
        with torch.no_grad():
            after = again(ids).logits
    except Exception as exc:
        raise AssertionError(f"the reloaded quantized model does not run forward: {exc!r}") from exc
    assert torch.equal(after, before), "the reloaded model's logits differ from the quantized model's"


# --- the registered methods --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_registered_for_its_config(spec):
    check_registered(contract_of(spec, KEYS))


@pytest.mark.parametrize("spec", SPECS)
def test_from_pretrained_quantizes(spec, tmp_path):
    check_quantizes(contract_of(spec, KEYS), tmp_path)


@pytest.mark.parametrize("spec", SPECS)
def test_save_load_is_bit_exact(spec, tmp_path):
    check_round_trip_bit_exact(contract_of(spec, KEYS), tmp_path)


@pytest.mark.parametrize("spec", SPECS)
def test_reloaded_model_runs(spec, tmp_path):
    check_reloaded_forward(contract_of(spec, KEYS), tmp_path)


# --- the suite's own tests: a correct fixture passes, each broken fixture fails its check -----------------------


def _fixture(name: str) -> dict[str, Any]:
    from tests.suites.fixtures import quantization

    return getattr(quantization, name)()


def test_correct_quantizer_passes_every_check(tmp_path):
    contract = _fixture("contract")
    check_registered(contract)
    check_quantizes(contract, tmp_path)
    check_round_trip_bit_exact(contract, tmp_path / "a")
    check_reloaded_forward(contract, tmp_path / "b")


@pytest.mark.parametrize(
    ("fixture", "check", "match"),
    [
        ("unregistered", check_registered, "quantizer not registered"),
        ("keeps_floats", check_quantizes, "no integer"),
        ("requantizes", check_round_trip_bit_exact, "not bit-exact"),
        ("forgetful", check_reloaded_forward, "does not run forward"),
    ],
)
def test_broken_quantizer_fails_its_check(fixture, check, match, tmp_path):
    contract = _fixture(fixture)
    args = (contract,) if check is check_registered else (contract, tmp_path)
    with pytest.raises(AssertionError, match=match):
        check(*args)
