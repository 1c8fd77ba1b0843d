"""Contract of every trainer: configs round-trip through JSON and refuse bad values at construction; the trainer and
its config extend the TRL trainer the contract names."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.suites._common import contract_of, implemented

SPECS = implemented("trainers")
KEYS = ("config_cls", "trainer_cls", "trl_base", "valid_kwargs", "invalid_kwargs")


@pytest.mark.parametrize("spec", SPECS)
def test_config_round_trips_through_json(spec, tmp_path):
    contract = contract_of(spec, KEYS)
    cfg = contract["config_cls"](output_dir=str(tmp_path), **contract["valid_kwargs"])
    data = json.loads(json.dumps(cfg.to_dict()))
    names = {f.name for f in dataclasses.fields(cfg) if f.init}
    again = contract["config_cls"](**{k: v for k, v in data.items() if k in names})
    for key in contract["valid_kwargs"]:
        assert getattr(again, key) == getattr(cfg, key)


@pytest.mark.parametrize("spec", SPECS)
def test_bad_config_fails_at_construction(spec, tmp_path):
    contract = contract_of(spec, KEYS)
    assert contract["invalid_kwargs"], "a trainer must declare invalid configurations to check"
    for bad in contract["invalid_kwargs"]:
        with pytest.raises(ValueError):
            contract["config_cls"](output_dir=str(tmp_path), **bad)


@pytest.mark.parametrize("spec", SPECS)
def test_trainer_extends_trl(spec):
    import transformers
    import trl

    contract = contract_of(spec, KEYS)
    base = getattr(trl, contract["trl_base"], None)
    assert isinstance(base, type) and contract["trl_base"].endswith("Trainer"), (
        f"{contract['trl_base']!r} is no trl trainer"
    )
    assert issubclass(contract["trainer_cls"], base) and issubclass(base, transformers.Trainer)
    base_config = getattr(trl, contract["trl_base"].removesuffix("Trainer") + "Config")
    assert issubclass(contract["config_cls"], base_config), f"the config must extend trl.{base_config.__name__}"
    assert spec.load("entry") is contract["trainer_cls"]
