"""Contract of every model class: registered with the Auto classes, identical logits after a save/load round trip,
a Hub folder with its modeling code that loads with ``trust_remote_code=True`` where hf_tokens cannot be imported,
and ``generate`` that continues exactly like greedy full forwards (``generative=True``/``"causal"``) or that at least
extends the prompt deterministically (``generative="custom"``, e.g. a diffusion LM's own ``generate``).

The checks are plain functions; the tests at the bottom run them on the fixtures of ``tests/suites/fixtures/models.py``
(a correct model passes all of them; each broken one fails its check).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from tests.suites._common import contract_of, implemented
from tests.suites._isolated import run_without_hf_tokens

SPECS = implemented("models")
KEYS = ("config_cls", "model_cls", "auto_class", "make_config", "make_inputs", "generative")
NEW_TOKENS = 6
GENERATIVE = (False, True, "causal", "custom")


def _generation(contract: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``(kind, generate kwargs)``: kind False (no generate), "causal" or "custom"."""
    kind = contract["generative"]
    assert kind in GENERATIVE, f"generative must be one of {GENERATIVE}, got {kind!r}"
    kwargs = {"max_new_tokens": NEW_TOKENS, "do_sample": False, **contract.get("generate_kwargs", {})}
    return ("causal" if kind is True else kind), kwargs


def _build(contract: dict[str, Any]) -> Any:
    torch.manual_seed(0)
    auto = getattr(transformers, contract["auto_class"])
    return auto.from_config(contract["make_config"]()).eval()


def check_auto_registration(contract: dict[str, Any]) -> None:
    from transformers import PretrainedConfig, PreTrainedModel
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config_cls, model_cls = contract["config_cls"], contract["model_cls"]
    assert issubclass(config_cls, PretrainedConfig) and issubclass(model_cls, PreTrainedModel)
    config = contract["make_config"]()
    assert isinstance(config, config_cls)
    try:
        registered = CONFIG_MAPPING[config.model_type]  # (its .get ignores registered configs)
    except KeyError:
        registered = None
    assert registered is config_cls, (
        f"AutoConfig does not know model_type {config.model_type!r}: AutoConfig.register it"
    )
    assert type(transformers.AutoConfig.for_model(config.model_type)) is config_cls
    auto = getattr(transformers, contract["auto_class"], None)
    assert auto is not None and contract["auto_class"].startswith("AutoModel"), contract["auto_class"]
    assert type(_build(contract)) is model_cls, f"{contract['auto_class']} does not map {config_cls.__name__}"


def check_round_trip(contract: dict[str, Any], tmp_path: Path) -> None:
    model = _build(contract)
    inputs = contract["make_inputs"](model.config)
    with torch.no_grad():
        before = model(**inputs).logits
    model.save_pretrained(tmp_path / "saved")
    again = getattr(transformers, contract["auto_class"]).from_pretrained(tmp_path / "saved").eval()
    assert type(again) is contract["model_cls"]
    with torch.no_grad():
        after = again(**inputs).logits
    assert torch.equal(before, after), (
        f"logits changed after save_pretrained/from_pretrained (max diff {(before - after).abs().max():.3g})"
    )


def check_remote_code(contract: dict[str, Any], tmp_path: Path) -> None:
    """Export with :func:`hf_tokens.hub.export_modeling_code`, load with ``trust_remote_code=True`` in a process where
    ``import hf_tokens`` fails: same logits, same greedy ``generate``, and classes that come from the folder."""
    from hf_tokens.hub import export_modeling_code

    model = _build(contract)
    inputs = contract["make_inputs"](model.config)
    with torch.no_grad():
        logits = model(**inputs).logits
    folder = export_modeling_code(model, tmp_path / "export")
    torch.save(inputs, tmp_path / "inputs.pt")
    kind, generate_kwargs = _generation(contract)
    run_without_hf_tokens(
        f"""
import transformers
auto = getattr(transformers, {contract["auto_class"]!r})
config = transformers.AutoConfig.from_pretrained({str(folder)!r}, trust_remote_code=True)
model = auto.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
assert type(config).__module__.startswith("transformers_modules."), type(config).__module__
inputs = torch.load("inputs.pt")
out = {{}}
with torch.no_grad():
    out["logits"] = model(**inputs).logits
if {bool(kind)}:
    out["generated"] = model.generate(inputs["input_ids"][:1], **{generate_kwargs!r})
torch.save(out, "remote.pt")
""",
        tmp_path,
    )
    remote = torch.load(tmp_path / "remote.pt")
    torch.testing.assert_close(remote["logits"], logits, rtol=0, atol=1e-6)
    if kind:
        ids = inputs["input_ids"][:1]
        assert torch.equal(remote["generated"], model.generate(ids, **generate_kwargs)), "remote generate differs"


def check_generate(contract: dict[str, Any]) -> None:
    """Greedy ``generate`` (with the model's cache) equals greedy decoding by full forwards over the whole sequence;
    a first divergence is accepted only on a near-tie (top-2 gap < 1e-4, DESIGN.md convention 7)."""
    kind, generate_kwargs = _generation(contract)
    if not kind:
        return
    model = _build(contract)
    ids = contract["make_inputs"](model.config)["input_ids"][:1]
    out = model.generate(ids, **generate_kwargs)
    assert out.shape[1] > ids.shape[1] and torch.equal(out[:, : ids.shape[1]], ids), "generate lost the prompt"
    assert out.shape[1] <= ids.shape[1] + generate_kwargs["max_new_tokens"], "generate ignored max_new_tokens"
    assert torch.equal(model.generate(ids, **generate_kwargs), out), "generate is not deterministic"
    if kind == "custom":
        return
    seq = ids
    with torch.no_grad():
        for step in range(out.shape[1] - ids.shape[1]):
            logits = model(seq).logits[0, -1]
            token = int(logits.argmax())
            if token != int(out[0, seq.shape[1]]):
                top2 = logits.topk(2).values
                assert float(top2[0] - top2[1]) < 1e-4, (
                    f"generate's token {step} differs from greedy full-forward decoding (not a near-tie)"
                )
                return
            seq = torch.cat([seq, torch.tensor([[token]])], dim=1)
    if out.shape[1] < ids.shape[1] + NEW_TOKENS:
        eos = model.generation_config.eos_token_id
        eos = {eos} if isinstance(eos, int) else set(eos or ())
        assert int(out[0, -1]) in eos, "generate stopped early without an eos token"


# --- the registered methods --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_registered_with_auto_classes(spec):
    check_auto_registration(contract_of(spec, KEYS))


@pytest.mark.parametrize("spec", SPECS)
def test_save_load_round_trip_keeps_logits(spec, tmp_path):
    check_round_trip(contract_of(spec, KEYS), tmp_path)


@pytest.mark.parametrize("spec", SPECS)
def test_exported_modeling_code_loads_without_hf_tokens(spec, tmp_path):
    check_remote_code(contract_of(spec, KEYS), tmp_path)


@pytest.mark.parametrize("spec", SPECS)
def test_generate_matches_greedy_forwards(spec):
    check_generate(contract_of(spec, KEYS))


# --- the suite's own tests: a correct fixture passes, each broken fixture fails its check -----------------------


def _fixture(name: str) -> dict[str, Any]:
    from tests.suites.fixtures import models

    return getattr(models, name)()


def test_correct_model_passes_every_check(tmp_path):
    contract = _fixture("contract")
    check_auto_registration(contract)
    check_round_trip(contract, tmp_path / "round")
    check_remote_code(contract, tmp_path / "remote")
    check_generate(contract)


@pytest.mark.parametrize(
    ("fixture", "check", "match"),
    [
        ("unregistered", "auto_registration", "AutoConfig does not know"),
        ("loses_weight", "round_trip", "logits changed"),
        ("hidden_import", "remote_code", "No module named 'hf_tokens"),
        ("drops_cache", "generate", "differs from greedy"),
    ],
)
def test_broken_model_fails_its_check(fixture, check, match, tmp_path):
    contract = _fixture(fixture)
    fn = globals()[f"check_{check}"]
    args = (contract,) if check in ("auto_registration", "generate") else (contract, tmp_path)
    with pytest.raises(AssertionError, match=match):
        fn(*args)
