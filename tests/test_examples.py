"""The examples' code paths on the bundled model: no FutureWarning raised from hf_tokens (or example) frames, and
nothing written to the working directory."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = {
    "quickstart": ["--max-new-tokens", "8"],
    "entropy_grpo": ["--steps", "1"],
    "tokenizer_transfer": [],
    "byte_level": [],
    "kv_cache": ["--max-new-tokens", "4"],
    "linear_cross_entropy": ["--steps", "1", "--max-length", "32"],
    "speculative": ["--max-new-tokens", "16"],
}


def test_every_example_is_exercised():
    assert {p.stem for p in (ROOT / "examples").glob("*.py")} == set(ARGS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARGS))
def test_example_raises_no_future_warning_from_our_code(name, smollm2, tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location(f"hf_tokens_example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *ARGS[name]])
    real_filter = warnings.filterwarnings

    def no_silencing(action, message="", category=Warning, module="", lineno=0, append=False):
        """An example may not hide FutureWarnings (the deprecations this test looks for)."""
        if not (action == "ignore" and issubclass(FutureWarning, category)):
            real_filter(action, message, category, module, lineno, append)

    monkeypatch.setattr(warnings, "filterwarnings", no_silencing)
    monkeypatch.setattr(
        warnings, "simplefilter", lambda action, category=Warning, *a, **k: no_silencing(action, category=category)
    )
    with warnings.catch_warnings():
        real_filter("default")
        # a deprecated transformers argument passed by our code (e.g. past_key_values= on 5.25) is attributed to
        # the calling frame: in hf_tokens.* or in the example module (hf_tokens_example_*)
        real_filter("error", category=FutureWarning, module=r"hf_tokens")
        module.main()
    assert not any(work.iterdir()), f"examples/{name}.py wrote {sorted(p.name for p in work.iterdir())} to the cwd"
    assert capsys.readouterr().out.strip()
