from __future__ import annotations

import subprocess
import sys

import pytest

from hf_tokens import registry
from hf_tokens.registry import EXTENSION_POINTS, STATUSES, UnknownMethodError, all_specs, get


def test_52_unique_methods_in_papers_order():
    specs = all_specs()
    assert len(specs) == 52
    assert len({s.id for s in specs}) == 52
    assert specs[0].id == "high-entropy-minority" and specs[-1].id == "rsq"
    for s in specs:
        assert s.extension in EXTENSION_POINTS and s.status in STATUSES and s.title and s.summary
        assert s.arxiv and len(s.arxiv.split(".")) == 2, s.id
        assert s.module_name.isidentifier()


def test_unknown_id_is_a_clear_error():
    with pytest.raises(UnknownMethodError, match="hf-tokens list"):
        get("no-such-method")
    with pytest.raises(UnknownMethodError, match="did you mean 'token-recycling'"):
        get("token_recycling")
    with pytest.raises(TypeError):
        get(7)


def test_register_validates_and_is_reversible(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", dict(registry._REGISTERED))
    with pytest.raises(UnknownMethodError):
        registry.register("nope", entry="a:b")
    with pytest.raises(ValueError, match="status"):
        registry.register("rsq", status="done", entry="a:b")
    with pytest.raises(ValueError, match="needs entry"):
        registry.register("rsq")
    with pytest.raises(ValueError, match="module:Name"):
        registry.register("rsq", entry="no_colon")
    spec = registry.register("rsq", entry="hf_tokens.registry:get", contract="hf_tokens.registry:all_specs")
    assert get("rsq") is spec and spec.implemented and spec.load() is get
    with pytest.raises(ValueError):
        spec.load("weights")


def test_filters():
    assert all(s.extension == "cache" for s in all_specs(extension="cache"))
    assert {s.id for s in all_specs(extension="cache")} >= {"h2o", "ems", "tokenselect", "tidaldecode"}
    assert all(s.status == "planned" for s in all_specs(status="planned"))


def test_import_is_light():
    code = (
        "import sys, time; import transformers; t=time.perf_counter(); import hf_tokens; "
        "hf_tokens.registry.all_specs(); dt=time.perf_counter()-t; "
        "bad=[m for m in ('trl','triton','torch','peft') if m in sys.modules]; print(dt, bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    seconds, heavy = float(out[0]), " ".join(out[1:])
    assert heavy == "[]", f"import hf_tokens + registry discovery imported {heavy}"
    assert seconds < 2.0


def test_lazy_public_names():
    import hf_tokens

    assert hf_tokens.get_method("h2o").id == "h2o"
    with pytest.raises(AttributeError):
        hf_tokens.DefinitelyNotAThing
