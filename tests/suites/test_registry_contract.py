"""Contract of every registered method, whatever its extension point."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_tokens.registry import all_specs

ROOT = Path(__file__).resolve().parents[2]
IMPLEMENTED = [pytest.param(s, id=s.id) for s in all_specs(implemented=True)]


@pytest.mark.parametrize("spec", IMPLEMENTED)
def test_implemented_method_is_complete(spec):
    assert spec.entry and spec.load("entry") is not None
    assert spec.contract, f"{spec.id}: implemented methods register a contract for their suite"
    if spec.config:
        assert spec.load("config").__doc__, f"{spec.id}: the config class needs a docstring naming the paper"
    assert spec.usage, f"{spec.id}: give a usage snippet (README and model card)"
    assert spec.headline, f"{spec.id}: give the measured headline number for the README"
    assert spec.benchmark, f"{spec.id}: name the benchmark command that reproduces the headline"
    scripts = [word for word in spec.benchmark.split() if word.endswith(".py")]
    assert scripts, f"{spec.id}: the benchmark command names no script: {spec.benchmark!r}"
    assert (ROOT / scripts[0]).is_file(), f"{spec.id}: benchmark script {scripts[0]} does not exist"


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.id) for s in all_specs()])
def test_card_renders_for_every_method(spec):
    from hf_tokens.hub import render_card

    card = render_card(spec.id)
    assert spec.title in str(card)
    assert "hf_tokens" in card.data.tags and spec.id in card.data.tags
