"""The examples' code paths on the bundled model: no FutureWarning raised from hf_tokens (or example) frames, and
nothing written to the working directory."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import warnings
from collections.abc import Iterator
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
    "quantization": ["--samples", "2", "--seq-len", "32", "--max-new-tokens", "4"],
    "detection": ["--tokens", "16"],
    "token_forcing": ["--steps", "2", "--vocab", "32"],
    "needle_threading": ["--tokens", "128", "--repeats", "1"],
    "active_dormant_heads": ["--texts", "1", "--tokens", "32"],
    "token_free": ["--steps", "2"],
    "softplus_attention": ["--steps", "2"],
    "landmark_attention": ["--steps", "2", "--length", "16"],
    "cca_attention": ["--tokens", "96", "--local-window", "32", "--max-new-tokens", "4"],
    "ponet": ["--steps", "2"],
    "entropy_adaptive": ["--max-new-tokens", "8"],
    "skipdecode": ["--max-new-tokens", "8"],
    "s2d": ["--soft-steps", "1", "--max-new-tokens", "8"],
    "hyperfitting": ["--epochs", "1", "--train-texts", "4", "--new-tokens", "8"],
    "xtr_retrieval": [],
    "rag_token_metrics": [],
    "kl3m_tokenizers": ["--vocab-size", "2048", "--char-size", "512"],
    "context_compression": ["--rate", "0.5", "--crag-tokens", "16"],
    "llmlingua2": ["--docs", "1", "--epochs", "1"],
    "long_text": ["--train", "6", "--steps", "2", "--length", "32"],
    "diffusion_lm": ["--from-smollm2", "--steps", "1", "--new-tokens", "8"],
    "dynamic_tokenization": ["--texts", "2", "--chars", "300", "--merges", "20"],
    "pawn": ["--texts", "2", "--tokens", "16", "--epochs", "2"],
    "zett_transfer": ["--steps", "1", "--batch-texts", "1", "--seq-len", "32"],
}


def test_every_example_is_exercised():
    assert {p.stem for p in (ROOT / "examples").glob("*.py")} == set(ARGS)


# frames a deprecation warning passes through between our call and the deprecated function: ``model(...)`` reaches
# ``forward`` through torch.nn.Module.__call__, so transformers' ``stacklevel=2`` points at torch, not at our code
_CALL_MACHINERY = ("torch/nn/modules/module.py",)


def _caller_module(stacklevel: int) -> tuple[str, str]:
    """The module (and file:line) a warning with ``stacklevel`` is about, looking through nn.Module's call frames."""
    frame = sys._getframe(stacklevel + 1)  # +1: the warn wrapper that calls this
    while frame.f_back is not None and frame.f_code.co_filename.replace("\\", "/").endswith(_CALL_MACHINERY):
        frame = frame.f_back
    return str(frame.f_globals.get("__name__", "")), f"{frame.f_code.co_filename}:{frame.f_lineno}"


@contextlib.contextmanager
def our_future_warnings_fail(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Raise a FutureWarning whose cause is a call in hf_tokens (or an example, ``hf_tokens_example_*``) code, e.g.
    ``past_key_values=`` passed to ``generate`` or to a model's forward on transformers 5.25; third-party ones pass.
    Nothing inside may silence FutureWarnings."""
    real_warn, real_filter = warnings.warn, warnings.filterwarnings

    def warn(message, category=None, stacklevel=1, source=None):
        kind = category or (type(message) if isinstance(message, Warning) else UserWarning)
        if issubclass(kind, FutureWarning):
            module, where = _caller_module(stacklevel)
            if module.startswith("hf_tokens"):
                raise FutureWarning(f"{message} (passed at {where})")
        return real_warn(message, category, stacklevel + 1, source)

    def no_silencing(action, message="", category=Warning, module="", lineno=0, append=False):
        """An example may not hide FutureWarnings (the deprecations this looks for)."""
        if not (action == "ignore" and issubclass(FutureWarning, category)):
            real_filter(action, message, category, module, lineno, append)

    with warnings.catch_warnings():
        real_filter("default")
        real_filter("error", category=FutureWarning, module=r"hf_tokens")  # a warning attributed to our frame itself
        monkeypatch.setattr(warnings, "warn", warn)
        monkeypatch.setattr(warnings, "filterwarnings", no_silencing)
        monkeypatch.setattr(
            warnings, "simplefilter", lambda action, category=Warning, *a, **k: no_silencing(action, category=category)
        )
        try:
            yield
        finally:
            monkeypatch.undo()


def _run_as(module_name: str, source: str, **names: object) -> None:
    """Execute ``source`` as code of the module ``module_name`` (its frames carry that ``__name__``)."""
    exec(compile(source, f"<{module_name}>", "exec"), {"__name__": module_name, **names})


def test_deprecated_cache_argument_from_our_frames_fails_through_forward_and_generate(tiny_llama, monkeypatch):
    from transformers import DynamicCache

    from hf_tokens._compat import cache_kwarg

    if cache_kwarg() != "cache":
        pytest.skip("this transformers takes past_key_values= without deprecation")
    names = {"model": tiny_llama, "ids": tiny_llama.dummy_inputs["input_ids"][:1, :4], "Cache": DynamicCache}
    forward = "model(ids, past_key_values=Cache(config=model.config), use_cache=True)"
    generate = "model.generate(ids, past_key_values=Cache(config=model.config), max_new_tokens=1)"
    for call in (forward, generate):
        with our_future_warnings_fail(monkeypatch), pytest.raises(FutureWarning, match="past_key_values"):
            _run_as("hf_tokens.some_method", call, **names)
        with our_future_warnings_fail(monkeypatch), warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            _run_as("someone_elses_library", call, **names)  # not ours: it warns, and does not fail
        assert any(issubclass(w.category, FutureWarning) for w in seen)
        with our_future_warnings_fail(monkeypatch):
            _run_as("hf_tokens.some_method", call.replace("past_key_values=", "cache="), **names)  # the new name
    with our_future_warnings_fail(monkeypatch):
        warnings.filterwarnings("ignore", category=FutureWarning)  # refused inside
        with pytest.raises(FutureWarning):
            _run_as("hf_tokens_example_x", forward, **names)


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
    with our_future_warnings_fail(monkeypatch):
        module.main()
    assert not any(work.iterdir()), f"examples/{name}.py wrote {sorted(p.name for p in work.iterdir())} to the cwd"
    assert capsys.readouterr().out.strip()
