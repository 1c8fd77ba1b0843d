"""Training LLMs over Neurally Compressed Text: equal-info windows (Lester et al., arXiv:2404.03626).

A byte LM (M1) arithmetic-codes text in windows that each compress to the same number of bits; the bitstream is cut
into fixed-width tokens for a second LM (M2). :mod:`.windows` holds the lossless tokenizer and the plain
arithmetic-coding baseline, :mod:`.coder` the exact integer interval arithmetic. Registered at the ``analysis``
extension point (its contract is a compression report): it is a tokenizer of a new kind, not a converter between two
subword vocabularies, which is what the ``tokenizers`` contract checks.
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "equal-info-windows",
    status="experimental",
    extension="analysis",
    entry="hf_tokens.analysis.equal_info_windows.windows:EqualInfoWindowsTokenizer",
    config="hf_tokens.analysis.equal_info_windows.windows:EqualInfoWindowsConfig",
    contract="hf_tokens.analysis.equal_info_windows.report:contract",
    headline=Headline(
        "toy scale, equal compute (300 steps): M2 bits/byte on EIW tokens {e.value:.2f} vs their raw "
        "{e.compressed_bits_per_byte:.2f} (learnable: {e.learned_fraction:+.1%}), on plain AC {a.value:.2f} vs "
        "{a.compressed_bits_per_byte:.2f} ({a.learned_fraction:+.1%}); on bytes {e.baseline_value:.2f}",
        file="bench_results/token_free_eiw.json",
        rows={
            "e": {"method": "m2:eiw", "metric": "bits_per_byte"},
            "a": {"method": "m2:ac", "metric": "bits_per_byte"},
        },
    ),
    benchmark="python benchmarks/token_free.py --part eiw --json bench_results/token_free_eiw.json",
    package="hf_tokens.analysis.equal_info_windows",
    usage=(
        "from hf_tokens.analysis.equal_info_windows import EqualInfoWindowsTokenizer\n"
        "tok = EqualInfoWindowsTokenizer(byte_lm, window_bits=32, token_bits=8)  # byte_lm: logits over 256 bytes\n"
        'enc = tok.encode("Some text to compress.")\n'
        'assert tok.decode(enc.tokens) == b"Some text to compress."'
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EqualInfoWindowsTokenizer": ".windows",
        "EqualInfoWindowsConfig": ".windows",
        "EqualInfoEncoding": ".windows",
        "arithmetic_code_tokens": ".windows",
        "compression_report": ".report",
    },
)
