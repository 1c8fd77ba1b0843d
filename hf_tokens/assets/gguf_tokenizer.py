"""Rebuild a correct ``PreTrainedTokenizerFast`` from the vocabulary and merges stored in a GGUF file.

transformers' own GGUF tokenizer conversion for SmolLM2 prepends ``<|im_start|>`` to every input and uses it as
eos. Here the byte-level BPE is rebuilt from the GGUF's ``tokenizer.ggml.*`` fields with the pre-tokenizer that the
GGUF's ``tokenizer.ggml.pre`` names (``smollm``: digits split one by one, then the GPT-2 byte-level regex;
``qwen2``: NFC, then Qwen2's split regex, then byte-level without its own regex), no BOS, and eos/pad set to the
chat end token (pad may differ). Control tokens become special tokens, user-defined ones (Qwen's ``<tool_call>``)
plain added tokens, and unused padding rows of the embedding (``[PAD151665]`` ...) are left out, as in the
original tokenizers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# tokenizer.ggml.pre values whose pre-tokenization is "each digit alone, then GPT-2 byte-level" (llama.cpp groups
# these together); "gpt2" is the plain byte-level regex.
_DIGIT_SPLIT_PRE = {"smollm", "starcoder", "refact", "codeshell", "command-r"}
_GPT2_PRE = {"gpt2", "default"}
# Qwen2's pre-tokenizer split (letters with an optional leading non-letter, single digits, punctuation runs, newlines)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CONTROL, _USER_DEFINED, _UNUSED = 3, 4, 5  # gguf TokenType values


def _field_str(reader: Any, key: str) -> str | None:
    field = reader.fields.get(key)
    if field is None:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def _field_strings(reader: Any, key: str) -> list[str]:
    field = reader.fields[key]
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def _field_ints(reader: Any, key: str) -> list[int]:
    field = reader.fields[key]
    return [int(field.parts[i][0]) for i in field.data]


def byte_level_bpe_from_gguf(
    gguf_path: str | Path, *, eos_token: str, pad_token: str | None = None, model_max_length: int = 8192
) -> Any:
    """A ``PreTrainedTokenizerFast`` equal to the original byte-level BPE tokenizer the GGUF was made from."""
    import gguf
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    reader = gguf.GGUFReader(str(gguf_path))
    model_kind = _field_str(reader, "tokenizer.ggml.model")
    if model_kind != "gpt2":
        raise ValueError(
            f"{gguf_path}: tokenizer.ggml.model is {model_kind!r}; only byte-level BPE ('gpt2') is handled"
        )
    pre = _field_str(reader, "tokenizer.ggml.pre") or "default"
    tokens = _field_strings(reader, "tokenizer.ggml.tokens")
    types = _field_ints(reader, "tokenizer.ggml.token_type")
    merges: list[tuple[str, str]] = []
    for merge in _field_strings(reader, "tokenizer.ggml.merges"):
        left, _, right = merge.partition(" ")
        merges.append((left, right))

    vocab = {tok: i for i, (tok, ty) in enumerate(zip(tokens, types)) if ty != _UNUSED}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in _DIGIT_SPLIT_PRE:
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in _GPT2_PRE:
        tok.pre_tokenizer = byte_level
    elif pre == "qwen2":
        tok.normalizer = normalizers.NFC()
        split = pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated", invert=False)
        no_regex = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
        tok.pre_tokenizer = pre_tokenizers.Sequence([split, no_regex])
    else:
        raise ValueError(f"{gguf_path}: pre-tokenizer {pre!r} is not one this rebuild knows")
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = [t for t, ty in zip(tokens, types) if ty == _CONTROL]
    tok.add_special_tokens(specials)
    tok.add_tokens(
        [AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == _USER_DEFINED]
    )

    chat_template = _field_str(reader, "tokenizer.chat_template")
    unk_id = (
        _field_ints(reader, "tokenizer.ggml.unknown_token_id")
        if "tokenizer.ggml.unknown_token_id" in reader.fields
        else None
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eos_token,
        pad_token=pad_token or eos_token,
        unk_token=tokens[unk_id[0]] if unk_id else None,
        bos_token=None,
        add_bos_token=False,
        clean_up_tokenization_spaces=False,
        model_max_length=model_max_length,
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast
