"""Toward a Theory of Tokenization in LLMs (Rajaraman, Jiao & Ramchandran, arXiv:2404.08335).

k-th order Markov sources with analytic entropy rates (:mod:`.markov`) and the controlled experiment of the paper
(:mod:`.experiment`): small transformers trained on the source's characters vs on BPE tokens learned from it,
held-out cross-entropy per character against the entropy rate and the unigram entropy.
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "tokenization-theory",
    status="experimental",
    extension="analysis",
    entry="hf_tokens.analysis.tokenization_theory.experiment:run_experiment",
    config="hf_tokens.analysis.tokenization_theory.experiment:TokenizationTheoryConfig",
    contract="hf_tokens.analysis.tokenization_theory.experiment:contract",
    headline=Headline(
        "k=4 switch source (rate {c.baseline_value:.3f}, unigram {c.unigram_bits:.2f} bits/char), one-layer GPT-2 "
        "(the papers' architecture), {c.n_seeds} seeds x 300 steps: characters {c.value:.3f} bits/char "
        "(x{c.ratio:.2f} the rate; on the unigram plateau for {c.pct.unigram_plateau_share:.0f}% of training, half "
        "the gap closed in {c.escaped}/{c.n_seeds} runs; k=2/3 {c2.value:.3f}/{c3.value:.3f}; k=1 {c1.value:.3f}), "
        "BPE {b.value:.3f} (x{b.ratio:.3f}); slow, not stuck: at 1200 steps ({cl.n_seeds} seeds) characters leave "
        "the plateau at steps {cl.escape_steps} and reach {cl.value:.3f} (BPE {bl.value:.3f}); a one-layer RoPE "
        "Llama on characters {l.value:.3f} at 300 steps (escaped in {l.escaped}/{l.n_seeds})",
        file="bench_results/token_free_markov.json",
        rows={
            "b": {"method": "gpt2/bpe@k=4", "metric": "bits_per_char"},
            "c": {"method": "gpt2/character@k=4", "metric": "bits_per_char"},
            "c1": {"method": "gpt2/character@k=1", "metric": "bits_per_char"},
            "c2": {"method": "gpt2/character@k=2", "metric": "bits_per_char"},
            "c3": {"method": "gpt2/character@k=3", "metric": "bits_per_char"},
            "cl": {
                "file": "bench_results/token_free_markov_long.json",
                "method": "gpt2/character@k=4",
                "metric": "bits_per_char",
            },
            "bl": {
                "file": "bench_results/token_free_markov_long.json",
                "method": "gpt2/bpe@k=4",
                "metric": "bits_per_char",
            },
            "l": {"method": "llama/character@k=4", "metric": "bits_per_char"},
        },
    ),
    benchmark=(
        "python benchmarks/token_free.py --part markov --json bench_results/token_free_markov.json && python "
        "benchmarks/token_free.py --part markov --scale 4 --architectures gpt2 "
        "--json bench_results/token_free_markov_long.json"
    ),
    package="hf_tokens.analysis.tokenization_theory",
    usage=(
        "from hf_tokens.analysis.tokenization_theory import MarkovSource, TokenizationTheoryConfig, run_experiment\n"
        "source = MarkovSource(order=3, p=0.1, q=0.2)\n"
        "print(source.entropy_rate(), source.unigram_entropy())\n"
        "report = run_experiment(TokenizationTheoryConfig(orders=[1, 2, 3, 4]))\n"
        "print(report.row(3, 'bpe')['excess_ratio'], report.row(3, 'character')['excess_ratio'])"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MarkovSource": ".markov",
        "MarkovSourceConfig": ".markov",
        "TokenizationTheoryConfig": ".experiment",
        "TokenizationTheoryReport": ".experiment",
        "run_experiment": ".experiment",
        "train_bpe": ".experiment",
    },
)
