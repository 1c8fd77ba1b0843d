"""k-th order Markov sources with an analytic entropy rate (Rajaraman, Jiao & Ramchandran, arXiv:2404.08335).

Two kinds of source:

- ``"switch"`` (the paper's running example): a binary process where ``x_n`` depends only on ``x_{n-k}``:
  ``P(x_n = 1 | x_{n-k} = 0) = p`` and ``P(x_n = 0 | x_{n-k} = 1) = q``. Its stationary marginal is
  ``P(1) = p / (p + q)``, and both its entropy rate ``pi_0 H(p) + pi_1 H(q)`` and its unigram entropy ``H(pi_1)``
  are closed forms; for small ``p, q`` the gap between them is large, which is what makes a model that only learns
  the unigram distribution visibly sub-optimal.
- ``"random"``: an alphabet of ``alphabet_size`` symbols and, for each of the ``A^k`` contexts, a next-symbol
  distribution drawn from a symmetric Dirichlet(``concentration``). The entropy rate is
  ``sum_s pi(s) H(P(. | s))`` with ``pi`` the stationary distribution of the context chain (solved exactly).

All entropies are in bits. :meth:`MarkovSource.empirical_entropy_rate` is the plug-in estimate of
``H(X_n | X_{n-k} ... X_{n-1})`` from a sample (it converges to the analytic rate; the tests check that).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

KINDS = ("switch", "random")


def _entropy_bits(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


@dataclass
class MarkovSourceConfig:
    """A k-th order Markov source (arXiv:2404.08335)."""

    order: int = field(default=2, metadata={"help": "k: the number of previous symbols the next one depends on"})
    kind: str = field(default="switch", metadata={"help": "'switch' (binary, x_n depends on x_{n-k}) or 'random'"})
    p: float = field(default=0.1, metadata={"help": "switch source: P(x_n = 1 | x_{n-k} = 0)"})
    q: float = field(default=0.2, metadata={"help": "switch source: P(x_n = 0 | x_{n-k} = 1)"})
    alphabet_size: int = field(default=2, metadata={"help": "random source: number of symbols (>= 2)"})
    concentration: float = field(default=0.3, metadata={"help": "random source: Dirichlet concentration (> 0)"})
    seed: int = field(default=0, metadata={"help": "seed of the random source's transition table"})

    def __post_init__(self) -> None:
        if not isinstance(self.order, int) or not 1 <= self.order <= 8:
            raise ValueError(f"order must be an int in [1, 8], got {self.order!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("p", "q"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)!r}")
        if not isinstance(self.alphabet_size, int) or not 2 <= self.alphabet_size <= 26:
            raise ValueError(f"alphabet_size must be an int in [2, 26], got {self.alphabet_size!r}")
        if self.kind == "random" and self.alphabet_size**self.order > 100_000:
            raise ValueError("alphabet_size ** order must be <= 100000 (the context table is dense)")
        if not self.concentration > 0:
            raise ValueError(f"concentration must be > 0, got {self.concentration!r}")


class MarkovSource:
    """Sampling, stationary distribution and analytic entropies of one k-th order Markov source."""

    def __init__(self, config: MarkovSourceConfig | None = None, **kwargs: object) -> None:
        self.config = config if config is not None else MarkovSourceConfig(**kwargs)  # type: ignore[arg-type]
        c = self.config
        self.order = c.order
        self.alphabet_size = 2 if c.kind == "switch" else c.alphabet_size
        a, k = self.alphabet_size, self.order
        states = a**k
        if c.kind == "switch":
            # the state's most significant digit is x_{n-k} (the oldest symbol of the context)
            oldest = np.arange(states) // a ** (k - 1)
            one = np.where(oldest == 0, c.p, 1 - c.q)
            self.transitions = np.stack([1 - one, one], axis=1)
        else:
            rng = np.random.default_rng(c.seed)
            self.transitions = rng.dirichlet(np.full(a, c.concentration), size=states)
        self.stationary = self._stationary()

    @property
    def alphabet(self) -> str:
        """The characters the symbols are written as ('0', '1', ... then 'a', 'b', ...)."""
        return "0123456789abcdefghijklmnop"[: self.alphabet_size]

    def _stationary(self) -> np.ndarray:
        a, states = self.alphabet_size, self.transitions.shape[0]
        chain = np.zeros((states, states))
        for s in range(states):
            for x in range(a):
                chain[s, (s * a + x) % states] += self.transitions[s, x]
        # pi (P - I) = 0 with sum(pi) = 1, solved as one least-squares system (exact for an irreducible chain)
        system = np.vstack([chain.T - np.eye(states), np.ones((1, states))])
        rhs = np.zeros(states + 1)
        rhs[-1] = 1.0
        pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
        pi = np.clip(pi, 0, None)
        return pi / pi.sum()

    def entropy_rate(self) -> float:
        """``sum_s pi(s) H(P(. | s))`` in bits per symbol."""
        return float(sum(self.stationary[s] * _entropy_bits(row) for s, row in enumerate(self.transitions)))

    def unigram(self) -> np.ndarray:
        """The stationary marginal distribution of one symbol."""
        a = self.alphabet_size
        newest = np.arange(self.transitions.shape[0]) % a
        return np.bincount(newest, weights=self.stationary, minlength=a)

    def unigram_entropy(self) -> float:
        """Cross-entropy (bits/symbol) of the best context-free predictor: what a collapsed model achieves."""
        return _entropy_bits(self.unigram())

    def sample(self, n: int, *, seed: int = 0) -> np.ndarray:
        """``n`` symbols (ints) of a stationary run: the first context is drawn from the stationary distribution."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        rng = np.random.default_rng(seed)
        a, states = self.alphabet_size, self.transitions.shape[0]
        state = int(rng.choice(states, p=self.stationary))
        cdf = np.cumsum(self.transitions, axis=1)
        cdf[:, -1] = 1.0
        draws = rng.random(n)
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            x = int(np.searchsorted(cdf[state], draws[i], side="right"))
            out[i] = x
            state = (state * a + x) % states
        return out

    def sample_text(self, n: int, *, seed: int = 0) -> str:
        """``n`` symbols as characters of :attr:`alphabet`."""
        alphabet = self.alphabet
        return "".join(alphabet[x] for x in self.sample(n, seed=seed))

    def empirical_entropy_rate(self, symbols: np.ndarray) -> float:
        """Plug-in ``H(X_n | previous k symbols)`` (bits) from counts of (context, next symbol) in ``symbols``."""
        symbols = np.asarray(symbols, dtype=np.int64)
        a, k = self.alphabet_size, self.order
        if symbols.ndim != 1 or symbols.size <= k:
            raise ValueError(f"symbols must be a 1-D array longer than the order ({k})")
        if symbols.min() < 0 or symbols.max() >= a:
            raise ValueError(f"symbols must be in [0, {a})")
        ctx = np.zeros(symbols.size - k, dtype=np.int64)
        for j in range(k):
            ctx = ctx * a + symbols[j : symbols.size - k + j]
        counts = np.zeros((a**k, a))
        np.add.at(counts, (ctx, symbols[k:]), 1)
        total = counts.sum()
        rows = counts.sum(axis=1)
        h = 0.0
        for s in np.nonzero(rows)[0]:
            h += rows[s] / total * _entropy_bits(counts[s] / rows[s])
        return float(h)

    def describe(self) -> dict[str, object]:
        """JSON-ready summary: the config, entropy rate and unigram entropy."""
        return {
            "config": asdict(self.config),
            "entropy_rate_bits": self.entropy_rate(),
            "unigram_entropy_bits": self.unigram_entropy(),
        }
