"""KL3M tokenizers: cased domain BPE and character-level BPE tokenizers (Bommarito et al., 2025, arXiv:2503.17247).

Registers the method; the recipes are in :mod:`.recipe` (on top of the shared
:func:`hf_tokens.tokenizers.train.train_bpe`), the character tokenizers' boundary-consistency property in
:mod:`.consistency`, publishing and the contract in :mod:`.api`. Offline training corpora:
``benchmarks/data/kl3m_corpora.py``.
"""

from hf_tokens.registry import lazy_exports, register

register(
    "kl3m-tokenizers",
    status="experimental",
    extension="tokenizers",
    card_kind="tokenizer",
    entry="hf_tokens.tokenizers.kl3m.recipe:train_kl3m_tokenizer",
    config="hf_tokens.tokenizers.kl3m.recipe:KL3MConfig",
    contract="hf_tokens.tokenizers.kl3m.api:contract",
    benchmark="python benchmarks/tokenizers.py --json bench_results/tokenizers.json",
    package="hf_tokens.tokenizers.kl3m",
    usage=(
        "from hf_tokens.tokenizers.kl3m import KL3MConfig, train_kl3m_tokenizer, train_kl3m_char_tokenizers\n"
        "tok = train_kl3m_tokenizer(texts, KL3MConfig(vocab_size=32768))\n"
        "chars = train_kl3m_char_tokenizers(texts)  # {4096: tok, 8192: tok, 16384: tok}\n"
        'tok.save_pretrained("kl3m-32k-cased")'
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "KL3MConfig": ".recipe",
        "train_kl3m_tokenizer": ".recipe",
        "train_kl3m_char_tokenizers": ".recipe",
        "kl3m_custom_tokens": ".recipe",
        "CHAR_VOCAB_SIZES": ".recipe",
        "boundary_consistency": ".consistency",
        "BoundaryConsistency": ".consistency",
        "ocr_edit_pairs": ".consistency",
        "save_kl3m_tokenizer": ".api",
    },
)
