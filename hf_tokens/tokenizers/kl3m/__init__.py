"""KL3M tokenizers: cased domain BPE and character-level BPE tokenizers (Bommarito et al., 2025, arXiv:2503.17247).

Registers the method; the recipes are in :mod:`.recipe` (on top of the shared
:func:`hf_tokens.tokenizers.train.train_bpe`), the character tokenizers' boundary-consistency property in
:mod:`.consistency`, publishing and the contract in :mod:`.api`. Offline training corpora:
``benchmarks/data/kl3m_corpora.py``.
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "kl3m-tokenizers",
    status="experimental",
    extension="tokenizers",
    card_kind="tokenizer",
    entry="hf_tokens.tokenizers.kl3m.recipe:train_kl3m_tokenizer",
    config="hf_tokens.tokenizers.kl3m.recipe:KL3MConfig",
    contract="hf_tokens.tokenizers.kl3m.api:contract",
    headline=Headline(
        "tokens/char vs the best general tokenizer ({l.baseline}) on held-out legal notices: KL3M 32k "
        "{l.ratio:.3f}x, 64k {l64.ratio:.3f}x; technical docs (Debian READMEs + Python 3.11 docs): 32k "
        "{t.ratio:.3f}x, 64k {t64.ratio:.3f}x; "
        "char-8k keeps token boundaries on {c.pct.value:.0f}% of OCR edits (GPT-2 {c.pct.baseline_value:.0f}%)",
        file="bench_results/domain_tokenizers.json",
        rows={
            "l": {"method": "kl3m-32k-cased", "metric": "tokens_per_char:legal"},
            "l64": {"method": "kl3m-64k-cased", "metric": "tokens_per_char:legal"},
            "t": {"method": "kl3m-32k-cased", "metric": "tokens_per_char:technical"},
            "t64": {"method": "kl3m-64k-cased", "metric": "tokens_per_char:technical"},
            "c": {"method": "kl3m-char-8k-cased", "metric": "ocr_boundary_consistent"},
        },
    ),
    benchmark="python benchmarks/domain_tokenizers.py --json bench_results/domain_tokenizers.json",
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
