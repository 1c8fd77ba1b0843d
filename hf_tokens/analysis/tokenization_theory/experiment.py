"""Transformers trained on a k-th order Markov source with and without tokenization (arXiv:2404.08335, Sec. 3-4).

For each order ``k``: sample a training and a held-out run from the source, train one small transformer on the
characters and one (same shape, same steps, batch and context measured in characters) on BPE tokens learned from the
training run, and measure the held-out cross-entropy per character against the source's entropy rate and unigram
entropy, plus the training curve in bits per character and the step at which it first closes half of the gap from
the unigram entropy to the entropy rate (``escape_step``; ``None`` when it never does). The paper's finding: without
tokenization the transformer sits at the unigram loss ("incredibly slow or fail to learn", NeurIPS version); with a
BPE dictionary it gets close to the entropy rate. The default source is the switch process with ``p = q = 0.8``
(``p + q > 1``: the regime in which Makkuva et al., 2024, find the unigram predictor to be a bad local minimum of
transformer training); its unigram entropy is 1 bit and its entropy rate ``H(0.8) = 0.722`` bits per character.

Architecture: ``"gpt2"`` (default; the GPT-2 of the Markov-data studies: learned absolute positions, tied
embeddings, one layer and one head as in Makkuva et al.) or ``"llama"`` (RoPE, the modern default). At the default
budget the unigram plateau outlasts training in every GPT-2 run for k = 2..4 and in 2 of 9 Llama runs (measured in
``bench_results/token_free_markov.json``; which of GPT-2's differences causes it, learned absolute positions or
LayerNorm/GELU/biases, is not isolated).

Deviations from the paper (named, all for a CPU budget): tiny models (hidden 64) trained for a few hundred steps
instead of thousands, and the BPE tokenizer of the ``tokenizers`` library (greedy merges, the standard left-to-right
encoder) in place of the paper's own dictionaries. The held-out cross-entropy of the token model,
``NLL(tokens) / characters``, is an upper bound of its per-character loss (the paper's measure as well); its training
curve is the token loss divided by the mean characters per token, so its first steps already sit below the unigram
entropy (a uniform guess over 64 multi-character tokens costs fewer bits per character).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from hf_tokens.analysis.tokenization_theory.markov import KINDS, MarkovSource, MarkovSourceConfig
from hf_tokens.models.lm_training import TrainingBudget, stream_nll, tiny_gpt2, tiny_llama, train_on_stream

TOKENIZERS = ("character", "bpe")
ARCHITECTURES = {"gpt2": tiny_gpt2, "llama": tiny_llama}
CURVE_POINTS = 10
_SIZES = ("train_symbols", "test_symbols", "context_symbols", "hidden", "layers", "heads", "steps", "batch_size")


@dataclass
class TokenizationTheoryConfig:
    """The controlled Markov experiment of "Toward a Theory of Tokenization in LLMs" (arXiv:2404.08335)."""

    orders: list[int] = field(default_factory=lambda: [1, 2, 3, 4], metadata={"help": "Markov orders k to run"})
    kind: str = field(default="switch", metadata={"help": "source kind: 'switch' or 'random' (see markov.py)"})
    p: float = field(default=0.8, metadata={"help": "switch source: P(1 | x_{n-k} = 0)"})
    q: float = field(default=0.8, metadata={"help": "switch source: P(0 | x_{n-k} = 1)"})
    train_symbols: int = field(default=200_000, metadata={"help": "length of the training run"})
    test_symbols: int = field(default=20_000, metadata={"help": "length of the held-out run"})
    context_symbols: int = field(default=256, metadata={"help": "context of both models, in source symbols"})
    bpe_vocab_size: int = field(default=64, metadata={"help": "size of the learned BPE dictionary"})
    architecture: str = field(default="gpt2", metadata={"help": "'gpt2' (absolute positions) or 'llama' (RoPE)"})
    hidden: int = field(default=64, metadata={"help": "transformer width"})
    layers: int = field(default=1, metadata={"help": "transformer depth"})
    heads: int = field(default=1, metadata={"help": "attention heads (must divide hidden)"})
    steps: int = field(default=300, metadata={"help": "optimizer steps per model"})
    batch_size: int = field(default=16, metadata={"help": "windows per step"})
    lr: float = field(default=1e-3, metadata={"help": "peak AdamW learning rate"})
    seed: int = field(default=0, metadata={"help": "seed of the samples and of training"})

    def __post_init__(self) -> None:
        if not isinstance(self.orders, list) or not self.orders or not all(isinstance(k, int) for k in self.orders):
            raise ValueError(f"orders must be a non-empty list of ints, got {self.orders!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, got {self.architecture!r}")
        for name in _SIZES:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.test_symbols < 2 * self.context_symbols or self.train_symbols < 2 * self.context_symbols:
            raise ValueError("train_symbols and test_symbols must be at least 2 * context_symbols")
        if not isinstance(self.bpe_vocab_size, int) or self.bpe_vocab_size < 3:
            raise ValueError(f"bpe_vocab_size must be an int >= 3, got {self.bpe_vocab_size!r}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden must be a multiple of heads ({self.heads}), got {self.hidden}")
        for k in self.orders:
            MarkovSourceConfig(order=k, kind=self.kind, p=self.p, q=self.q, seed=self.seed)  # validates k, p, q

    def source(self, order: int) -> MarkovSource:
        return MarkovSource(MarkovSourceConfig(order=order, kind=self.kind, p=self.p, q=self.q, seed=self.seed))


@dataclass
class TokenizationTheoryReport:
    """One row per (order, tokenizer): held-out bits per character against the source's optimum."""

    config: dict[str, Any]
    rows: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"config": dict(self.config), "rows": [dict(r) for r in self.rows]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizationTheoryReport:
        return cls(config=dict(data["config"]), rows=[dict(r) for r in data["rows"]])

    def row(self, order: int, tokenizer: str) -> dict[str, Any]:
        for r in self.rows:
            if r["order"] == order and r["tokenizer"] == tokenizer:
                return r
        raise KeyError(f"no row for order={order}, tokenizer={tokenizer!r}")


def train_bpe(text: str, alphabet: str, vocab_size: int, *, chunk: int = 1024) -> Any:
    """A BPE model (``tokenizers.Tokenizer``) learned on ``text`` over exactly ``alphabet``: no pre-tokenizer, no
    normaliser, no special tokens, so encoding is lossless and every token is a string of source symbols."""
    from tokenizers import Tokenizer, models, trainers

    tok = Tokenizer(models.BPE())
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=list(alphabet), show_progress=False, special_tokens=[]
    )
    tok.train_from_iterator([text[i : i + chunk] for i in range(0, len(text), chunk)], trainer)
    return tok


def _encode(tok: Any, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of ``text`` and the number of characters of each token (their sum is ``len(text)``)."""
    enc = tok.encode(text)
    lengths = torch.tensor([end - start for start, end in enc.offsets])
    if int(lengths.sum()) != len(text):
        raise RuntimeError("the BPE encoding does not cover the text exactly")
    return torch.tensor(enc.ids), lengths


def bits_per_char(model: Any, ids: torch.Tensor, lengths: torch.Tensor, seq_len: int) -> float:
    """Held-out NLL in bits over the characters covered by the predicted ids (every id but the first one)."""
    nll = stream_nll(model, ids, seq_len=seq_len)
    return float(nll.sum()) / math.log(2) / float(lengths[1:].sum())


def _trailing_means(curve_bits: list[float], window: int) -> list[float]:
    """Mean of each ``window`` consecutive steps, one value per step from step ``window - 1`` on."""
    total, out = 0.0, []
    for step, value in enumerate(curve_bits):
        total += value - (curve_bits[step - window] if step >= window else 0.0)
        if step + 1 >= window:
            out.append(total / window)
    return out


def escape_step(curve_bits: list[float], threshold: float, window: int = 10) -> int | None:
    """The first step whose trailing ``window``-step mean training loss is below ``threshold`` (``None``: never)."""
    for i, mean in enumerate(_trailing_means(curve_bits, window)):
        if mean < threshold:
            return i + window - 1
    return None


def plateau_share(curve_bits: list[float], unigram_bits: float, window: int = 10, tolerance: float = 0.02) -> float:
    """Share of the steps whose trailing ``window``-step mean loss is within ``tolerance`` (relative) of the unigram
    entropy or above it: how much of training the model spends on the unigram plateau."""
    means = _trailing_means(curve_bits, window)
    return sum(m >= unigram_bits * (1 - tolerance) for m in means) / len(means) if means else 0.0


def _arm(
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    vocab: int,
    config: TokenizationTheoryConfig,
    bounds: tuple[float, float],
    progress: Callable[[str], None] | None,
) -> dict[str, Any]:
    chars_per_token = float(train[1].float().mean())
    seq_len = max(2, round(config.context_symbols / chars_per_token))
    torch.manual_seed(config.seed)
    build = ARCHITECTURES[config.architecture]
    model = build(vocab, hidden=config.hidden, layers=config.layers, heads=config.heads, max_len=seq_len + 1)
    budget = TrainingBudget(steps=config.steps, batch_size=config.batch_size, lr=config.lr, seed=config.seed)
    losses = train_on_stream(model, train[0], seq_len=seq_len, budget=budget)
    bits = [loss / math.log(2) / chars_per_token for loss in losses]
    bpc = bits_per_char(model, test[0], test[1], seq_len)
    if progress is not None:
        progress(f"{name}: {bpc:.4f} bits/char (final train loss {losses[-1]:.3f} nats/token)")
    points = min(CURVE_POINTS, len(bits))
    edges = [round(i * len(bits) / points) for i in range(points + 1)]
    return {
        "vocab_size": vocab,
        "chars_per_token": chars_per_token,
        "seq_len": seq_len,
        "cross_entropy_bits": bpc,
        "loss_curve_bits": [sum(bits[a:b]) / (b - a) for a, b in itertools.pairwise(edges)],
        "escape_step": escape_step(bits, sum(bounds) / 2),
        "unigram_plateau_share": plateau_share(bits, bounds[1]),
    }


def run_experiment(
    config: TokenizationTheoryConfig | None = None, *, progress: Callable[[str], None] | None = None
) -> TokenizationTheoryReport:
    """Train the character and the BPE model for every order of ``config``; see the module docstring."""
    config = config or TokenizationTheoryConfig()
    rows = []
    for k in config.orders:
        source = config.source(k)
        train_sym = source.sample(config.train_symbols, seed=config.seed * 1000 + 2 * k)
        test_sym = source.sample(config.test_symbols, seed=config.seed * 1000 + 2 * k + 1)
        h, h1 = source.entropy_rate(), source.unigram_entropy()
        base = {"order": k, "entropy_rate_bits": h, "unigram_bits": h1}
        base["empirical_entropy_rate_bits"] = source.empirical_entropy_rate(test_sym)
        ones = torch.ones(config.test_symbols, dtype=torch.long)
        char = _arm(
            f"k={k} character",
            (torch.from_numpy(train_sym), torch.ones(config.train_symbols, dtype=torch.long)),
            (torch.from_numpy(test_sym), ones),
            source.alphabet_size,
            config,
            (h, h1),
            progress,
        )
        alphabet = source.alphabet
        train_text = "".join(alphabet[x] for x in train_sym)
        test_text = "".join(alphabet[x] for x in test_sym)
        tok = train_bpe(train_text, alphabet, config.bpe_vocab_size)
        train_ids, test_ids = _encode(tok, train_text), _encode(tok, test_text)
        bpe = _arm(f"k={k} bpe", train_ids, test_ids, tok.get_vocab_size(), config, (h, h1), progress)
        for name, arm in (("character", char), ("bpe", bpe)):
            ce = arm["cross_entropy_bits"]
            rows.append(
                {
                    **base,
                    "tokenizer": name,
                    **arm,
                    "excess_bits": ce - h,
                    "excess_ratio": ce / h - 1,
                    "gap_closed": (h1 - ce) / (h1 - h) if h1 > h else 0.0,
                }
            )
    return TokenizationTheoryReport(config=_plain(asdict(config)), rows=rows)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in data.items()}


def contract() -> dict[str, Any]:
    """Analysis contract: a tiny run of the experiment (one order, a few steps)."""

    def make_report(seed: int) -> TokenizationTheoryReport:
        torch.set_num_threads(1)
        config = TokenizationTheoryConfig(
            orders=[2],
            train_symbols=4000,
            test_symbols=1000,
            context_symbols=64,
            bpe_vocab_size=8,
            hidden=16,
            layers=1,
            heads=2,
            steps=3,
            batch_size=4,
            seed=seed,
        )
        return run_experiment(config)

    return {"make_report": make_report}


__all__ = [
    "TokenizationTheoryConfig",
    "TokenizationTheoryReport",
    "escape_step",
    "plateau_share",
    "run_experiment",
    "train_bpe",
]
