"""Training LLMs over Neurally Compressed Text: equal-info windows (Lester et al., arXiv:2404.03626).

A byte LM (M1) arithmetic-codes text in windows that each compress to the same number of bits; the bitstream is cut
into fixed-width tokens for a second LM (M2). :mod:`.windows` holds the lossless tokenizer and the plain
arithmetic-coding baseline, :mod:`.coder` the exact integer interval arithmetic. Registered at the ``analysis``
extension point (its contract is a compression report): it is a tokenizer of a new kind, not a converter between two
subword vocabularies, which is what the ``tokenizers`` contract checks.
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

X3_SEEDS = "bench_results/token_free_eiw_x3_seeds.json"

register(
    "equal-info-windows",
    status="experimental",
    extension="analysis",
    entry="hf_tokens.analysis.equal_info_windows.windows:EqualInfoWindowsTokenizer",
    config="hf_tokens.analysis.equal_info_windows.windows:EqualInfoWindowsConfig",
    contract="hf_tokens.analysis.equal_info_windows.report:contract",
    headline=Headline(
        "toy scale, equal compute (300 steps, seed 0): M2 bits/byte on EIW tokens {e.value:.2f} vs their raw "
        "{e.compressed_bits_per_byte:.2f} (learnable: {e.learned_fraction:+.1%}), on plain AC {a.value:.2f} vs "
        "{a.compressed_bits_per_byte:.2f} ({a.learned_fraction:+.1%}); on bytes {e.baseline_value:.2f}. At 900 "
        "steps ({e3.n_seeds} seeds): EIW learnable {e3.learned_fraction:+.1%} (per seed "
        "{e3.learned_fraction_per_seed[0]:+.1%} / {e3.learned_fraction_per_seed[1]:+.1%} / "
        "{e3.learned_fraction_per_seed[2]:+.1%}), plain AC {a3.learned_fraction:+.1%} (per seed "
        "{a3.learned_fraction_per_seed[0]:+.1%} / {a3.learned_fraction_per_seed[1]:+.1%} / "
        "{a3.learned_fraction_per_seed[2]:+.1%}); M2 on EIW x{e3.ratio:.2f} the bits/byte of M2 on bytes",
        file="bench_results/token_free_eiw.json",
        rows={
            "e": {"method": "m2:eiw", "metric": "bits_per_byte"},
            "a": {"method": "m2:ac", "metric": "bits_per_byte"},
            "e3": {"file": X3_SEEDS, "method": "m2:eiw", "metric": "bits_per_byte"},
            "a3": {"file": X3_SEEDS, "method": "m2:ac", "metric": "bits_per_byte"},
        },
    ),
    benchmark=(
        "python benchmarks/token_free.py --part eiw --json bench_results/token_free_eiw.json && python "
        "benchmarks/token_free.py --part eiw --scale 3 --json bench_results/token_free_eiw_x3.json && for s in 1 "
        "2; do python benchmarks/token_free.py --part eiw --scale 3 --seed $s --json "
        "bench_results/token_free_eiw_x3_seed$s.json; done && python benchmarks/token_free.py --part eiw --summarise "
        "bench_results/token_free_eiw_x3.json bench_results/token_free_eiw_x3_seed1.json "
        f"bench_results/token_free_eiw_x3_seed2.json --json {X3_SEEDS}"
    ),
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
