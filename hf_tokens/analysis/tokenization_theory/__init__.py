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
        "held-out bits/char over the entropy rate, k=4 switch source: BPE x{b.ratio:.3f}, characters x{c.ratio:.3f} "
        "(unigram {c.unigram_bits:.2f} vs rate {c.baseline_value:.3f} bits: no collapse to unigram at this toy scale)",
        file="bench_results/token_free_markov.json",
        rows={
            "b": {"method": "bpe@k=4", "metric": "bits_per_char"},
            "c": {"method": "character@k=4", "metric": "bits_per_char"},
        },
    ),
    benchmark="python benchmarks/token_free.py --part markov --json bench_results/token_free_markov.json",
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
