"""Shared fixtures: tiny in-code models (Llama, Qwen2, Mistral, GPT-2 style; hidden 64, 2 layers), a tiny offline
tokenizer, and the bundled real SmolLM2-135M (built by ``bash setup.sh``; a missing asset fails loudly unless
``HF_TOKENS_SKIP_MISSING_ASSETS=1``)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from hf_tokens.testing import ARCHITECTURES, tiny_model, tiny_tokenizer

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
if not torch.cuda.is_available():
    # Triton kernels run on CPU only under the interpreter; it is read when kernels are defined (module import).
    os.environ.setdefault("TRITON_INTERPRET", "1")

LLAMA_LIKE = ("llama", "qwen2", "mistral")


@pytest.fixture(scope="session")
def tokenizer():
    """The tiny byte-level BPE tokenizer (vocab 320) that the tiny models share."""
    return tiny_tokenizer()


@pytest.fixture(params=ARCHITECTURES)
def any_tiny_model(request):
    """Each tiny architecture in turn (llama, qwen2, mistral, gpt2)."""
    return tiny_model(request.param)


@pytest.fixture(params=LLAMA_LIKE)
def llama_like_model(request):
    """Each tiny Llama-style architecture in turn (llama, qwen2, mistral): RoPE, GQA, DynamicLayer caches."""
    return tiny_model(request.param)


@pytest.fixture
def tiny_llama():
    return tiny_model("llama")


def _real(loader, *args):
    from hf_tokens.assets import AssetNotInstalledError

    try:
        return loader(*args)
    except AssetNotInstalledError as exc:
        if os.environ.get("HF_TOKENS_SKIP_MISSING_ASSETS") == "1":
            pytest.skip(str(exc))
        raise


@pytest.fixture(scope="session")
def smollm2():
    """``(model, tokenizer)`` of the bundled SmolLM2-135M-Instruct (fp32, eval)."""
    from hf_tokens.assets import load_model

    return _real(load_model, "smollm2-135m")


@pytest.fixture(scope="session")
def minilm():
    """``(model, tokenizer)`` of the bundled all-MiniLM-L6-v2 encoder."""
    from hf_tokens.assets import load_encoder

    return _real(load_encoder, "minilm-l6")


@pytest.fixture(scope="session")
def real_tokenizer():
    """Factory: ``real_tokenizer("gpt2" | "qwen3" | "mistral" | "smollm2" | "minilm-l6")``."""
    from hf_tokens.assets import load_tokenizer

    return lambda name: _real(load_tokenizer, name)
