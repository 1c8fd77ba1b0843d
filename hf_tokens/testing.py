"""Tiny in-code models and an offline tokenizer for tests and quick experiments (no download, no files).

``tiny_model("llama")`` builds a 2-layer, hidden-64 causal LM with seeded random weights; ``tiny_tokenizer()`` a
byte-level BPE trained in memory on a fixed text, whose vocabulary the tiny models use by default.
"""

from __future__ import annotations

import functools
from typing import Any

ARCHITECTURES = ("llama", "qwen2", "mistral", "gpt2")

_TRAIN_TEXT = (
    "The quick brown fox jumps over the lazy dog. def main():\n    return 0\n"
    "Tokens are the units language models read and write. Hello world! 0123456789 "
    "import torch\nfor i in range(10):\n    print(i)\n"
    "Caches hold keys and values; speculative decoding drafts and verifies tokens. "
)


@functools.cache
def _tiny_tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_TRAIN_TEXT] * 4, trainer=trainer)
    return tok.to_str()


def tiny_tokenizer(vocab_size: int = 320) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` (256 bytes + specials + a few merges), eos ``<|endoftext|>``."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 260:
        raise ValueError(f"vocab_size must be >= 260 (256 bytes + specials), got {vocab_size}")
    tok = Tokenizer.from_str(_tiny_tokenizer_json(vocab_size))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>")


def tiny_config(arch: str = "llama", *, vocab_size: int = 320, **overrides: Any) -> Any:
    """Config of a 2-layer, hidden-64 model of ``arch`` (llama, qwen2, mistral, gpt2). Eager-compatible, fp32."""
    from transformers import GPT2Config, LlamaConfig, MistralConfig, Qwen2Config

    common: dict[str, Any] = {"vocab_size": vocab_size, "eos_token_id": 0, "pad_token_id": 1, "bos_token_id": None}
    if arch == "gpt2":
        kw = {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 512, **common}
        return GPT2Config(**{**kw, **overrides})
    llama_like = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "tie_word_embeddings": False,
        **common,
    }
    if arch == "llama":
        return LlamaConfig(**{**llama_like, **overrides})
    if arch == "qwen2":
        return Qwen2Config(**{**llama_like, **overrides})
    if arch == "mistral":
        return MistralConfig(**{**llama_like, "sliding_window": None, **overrides})
    raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")


def tiny_model(
    arch: str = "llama",
    *,
    seed: int = 0,
    vocab_size: int = 320,
    attn_implementation: str | None = None,
    **overrides: Any,
) -> Any:
    """A seeded random ``AutoModelForCausalLM`` of ``arch`` in eval mode (fp32, sdpa attention unless given)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = tiny_config(arch, vocab_size=vocab_size, **overrides)
    torch.manual_seed(seed)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForCausalLM.from_config(config, **kwargs)
    # Random init gives near-uniform logits; scale the head so greedy decoding has clear winners (fewer ties).
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(4.0)
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    return model.eval()


def tiny_encoder(head: str, *, num_labels: int = 2, seed: int = 0, **overrides: Any) -> tuple[Any, Any]:
    """A seeded BERT (hidden 32, 2 layers, 4 heads) with a ``head`` ("sequence" or "token") classification head of
    ``num_labels`` labels, in eval mode, and the bundled MiniLM tokenizer its vocabulary matches."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

    from hf_tokens.assets import load_tokenizer

    classes = {"sequence": BertForSequenceClassification, "token": BertForTokenClassification}
    if head not in classes:
        raise ValueError(f"head must be one of {sorted(classes)}, got {head!r}")
    tokenizer = load_tokenizer("minilm-l6")
    settings = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}
    config = BertConfig(vocab_size=len(tokenizer), **{**settings, **overrides})
    config.num_labels = num_labels
    torch.manual_seed(seed)
    return classes[head](config).eval(), tokenizer
