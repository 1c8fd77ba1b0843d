"""Contract of every generation strategy: lossless ones reproduce plain greedy output; limits are respected."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.testing import tiny_model, tiny_tokenizer
from tests.suites._common import contract_of, implemented
from tests.suites._isolated import run_without_hf_tokens, ship_kwargs

SPECS = implemented("generation")


TEXTS = ("def main():\n    return", "The quick brown fox", "Hello world! Tokens are")


def _prompts(vocab, n=3):
    """Real text through the tiny tokenizer (valid UTF-8, so byte-level strategies can read it too)."""
    tok = tiny_tokenizer()
    assert len(tok) == vocab
    return [torch.tensor([tok(text).input_ids]) for text in TEXTS[:n]]


@pytest.mark.parametrize("spec", SPECS)
def test_lossless_greedy_equals_plain(spec):
    contract = contract_of(spec, ("generate", "make_kwargs", "lossless"))
    if not contract["lossless"]:
        pytest.skip(f"{spec.id} is not a lossless strategy")
    model = tiny_model("llama")
    extra = contract["make_kwargs"](model)
    for ids in _prompts(model.config.vocab_size):
        plain = model.generate(ids, max_new_tokens=24, do_sample=False)
        ours = model.generate(ids, max_new_tokens=24, do_sample=False, custom_generate=contract["generate"], **extra)
        assert torch.equal(ours, plain), f"{spec.id} changed greedy output"


@pytest.mark.parametrize("spec", SPECS)
def test_respects_max_new_tokens_and_eos(spec):
    contract = contract_of(spec, ("generate", "make_kwargs", "lossless"))
    model = tiny_model("llama")
    extra = contract["make_kwargs"](model)
    ids = _prompts(model.config.vocab_size, n=1)[0]
    out = model.generate(ids, max_new_tokens=7, do_sample=False, custom_generate=contract["generate"], **extra)
    assert out.shape[1] <= ids.shape[1] + 7
    assert torch.equal(out[:, : ids.shape[1]], ids)
    # make the first greedy token the eos: generation must stop right there
    plain = model.generate(ids, max_new_tokens=1, do_sample=False)
    eos = int(plain[0, -1])
    out = model.generate(
        ids, max_new_tokens=7, do_sample=False, eos_token_id=eos, custom_generate=contract["generate"], **extra
    )
    if contract["lossless"]:
        assert out.shape[1] == ids.shape[1] + 1 and int(out[0, -1]) == eos
    else:
        assert eos not in out[0, ids.shape[1] : -1].tolist()


@pytest.mark.parametrize("spec", SPECS)
def test_exported_custom_generate_repo_is_self_contained(spec, tmp_path):
    """The folder written by export_custom_generate works as ``custom_generate=<folder>`` in a process where
    ``import hf_tokens`` fails, and its output equals the in-library callable's (computed here)."""
    from transformers.dynamic_module_utils import check_python_requirements

    from hf_tokens.hub import export_custom_generate

    contract = contract_of(spec, ("generate", "make_kwargs", "lossless"))
    folder = export_custom_generate(spec.id, tmp_path / spec.module_name)
    assert (folder / "custom_generate" / "generate.py").is_file() and (folder / "README.md").is_file()
    assert spec.title in (folder / "README.md").read_text()
    requirements = (folder / "custom_generate" / "requirements.txt").read_text()
    assert "hf-tokens" not in requirements and "hf_tokens" not in requirements
    check_python_requirements(folder, requirements_file="custom_generate/requirements.txt")  # the loader's own check
    model = tiny_model("llama")
    extra = contract["make_kwargs"](model)
    model.save_pretrained(tmp_path / "model")
    prompts = _prompts(model.config.vocab_size, n=2)
    expected = [
        model.generate(ids, max_new_tokens=10, do_sample=False, custom_generate=contract["generate"], **extra)
        for ids in prompts
    ]
    torch.save(prompts, tmp_path / "prompts.pt")
    rebuild = ship_kwargs(extra, tmp_path / "kwargs")
    run_without_hf_tokens(
        rebuild
        + f"""
import torch
model = AutoModelForCausalLM.from_pretrained("model").eval()
outs = [
    model.generate(ids, max_new_tokens=10, do_sample=False, custom_generate={str(folder)!r}, trust_remote_code=True,
                   **kwargs)
    for ids in torch.load("prompts.pt")
]
torch.save(outs, "outs.pt")
""",
        tmp_path,
    )
    for got, want in zip(torch.load(tmp_path / "outs.pt"), expected):
        assert torch.equal(got, want), f"{spec.id}: the exported repository differs from the in-library callable"
