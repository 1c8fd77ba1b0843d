"""Training the ZeTT hypernetwork on a stream of tokenizers sampled on the fly (paper section 3.2).

Every step: draw a batch of texts from the offline corpora, fit a tokenizer to them (UnigramLM with Gaussian noise on
its piece scores, or BPE, with a vocabulary size drawn uniformly from ``[vocab_min, vocab_max]``), predict the input
and output embeddings of every token of that tokenizer with the hypernetwork, and minimise the frozen base model's
next-token loss on the batch tokenized with the sampled tokenizer, plus ``aux_weight`` times the paper's auxiliary
loss: the squared distance between the predicted and the original embeddings of the tokens the sampled tokenizer
shares with the original one.

Two changes, made together (not ablated one by one), turned the first CPU runs around (there, training made the
hypernetwork worse than its own starting point, mean initialisation). ``copy_shared`` makes the LM loss the loss of
the model a transplant builds: tokens the sampled tokenizer shares with the original keep their original rows, as
:func:`~hf_tokens.tokenizers.transplant` does, so the LM loss trains exactly the rows the hypernetwork will be asked
for (the auxiliary loss still reads its predictions for shared tokens). ``fit_texts`` fits the sampled tokenizer to
many more texts than the LM batch, so sampled vocabularies of 4k-16k look like real tokenizers (long, multi-piece
tokens) instead of 600-2000 short pieces of one batch. Both are the defaults.

Deviations, by design: the paper samples tokenizers from substring counts of a large text queue with 32k-token
vocabularies on TPUs; here the tokenizer is fitted with the `tokenizers` library to ``fit_texts`` offline texts with
4k-16k vocabularies (CPU budget); shared tokens are copied in the LM loss (above); the auxiliary loss is divided by
the mean squared norm of the original embeddings (so one weight fits models of any embedding scale) and reads at most
``aux_tokens`` shared tokens per step; the optimiser is plain AdamW, with a constant learning rate by default or a
linear warm-up followed by linear/cosine decay (``schedule``, ``warmup``). Because CPU runs are budgeted in seconds,
the schedule's clock is the larger of the step fraction and the wall-time fraction, so a run stopped by ``seconds``
still ends its decay near zero. ``absent_tokens`` adds distractor tokens to each step's output softmax (tokens absent
from the sampled vocabulary: real tokens of earlier steps' tokenizers and, for an ``absent_foreign`` share, synthetic
strings of other scripts; :mod:`.absent`), standing in for the many unused tokens of the paper's 32k-token sampled
vocabularies from a large text queue; off by default. ``pretokenizers`` lets sampled tokenizers also use the Llama 3 /
Qwen split pattern (:data:`PRETOKENIZERS`), whose token shapes (a leading symbol glued to a word, punctuation glued
to newlines) a GPT-2-pattern tokenizer never produces; the default samples the GPT-2 pattern only, as before.

Measured (bench_results/zett_train.json, bench_results/tokenizer_transfer_zett.json, 32k held-out characters): 274
steps (2705 s, 1 CPU thread, constant lr) take SmolLM2's zero-shot ppl/char ratio to GPT-2's tokenizer from 1.25 (mean
initialisation) to 1.136, below TokenAdapt's 1.143, but leave it behind TokenAdapt on Qwen3 (1.271 vs 1.214) and
Mistral (1.261 vs 1.248; 1.266 before unspellable tokens got mean initialisation's fallback rows). A 673-step run (4202
s) with 5% warm-up and linear decay did not improve it (1.149/1.275/1.270, before the fallback change;
bench_results/zett_train_linear.json, tokenizer_transfer_zett_linear.json). Where the gap comes from
(bench_results/zett_row_swap.json, ``benchmarks/zett_row_swap.py``): with ZeTT rows only for the tokens the text
contains and TokenAdapt rows for the rest, Mistral reaches 1.239 (better than TokenAdapt's 1.248) and Qwen3 1.220
(TokenAdapt 1.214); ZeTT's rows for the ~10k/112k predicted tokens absent from the text take probability mass (their
mean norm is 2.8/2.7 vs TokenAdapt's 2.3; SmolLM2's embeddings are tied). The sampled 4k-16k vocabularies rarely
contain such tokens, so the LM loss seldom penalises them; rows of other scripts take 6.4%/5.2% of the softmax on the
English/code text under ZeTT vs 1.5%/0.7% under TokenAdapt (Qwen3/Mistral; non-ASCII rows: other scripts, typographic
punctuation, symbols; the row-swap runs predate the fallback change below the table, and on Mistral most of ZeTT's
non-ASCII mass sat on the random rows of 27 byte tokens SmolLM2 cannot spell, which ZeTT and TokenAdapt drew
differently). Continuing the 274-step hypernetwork for 150 steps (1800 s) on 16k-32k vocabularies fitted to 400 texts
moved Qwen3 from 1.271 to 1.246 (GPT-2 1.135, Mistral 1.261; bench_results/zett_train_bigvocab.json,
tokenizer_transfer_zett_bigvocab.json). The same continuation (same tokenizers and texts) with 8192 absent-token
distractors per step from earlier steps' tokenizers (``absent_tokens=8192``; 150 steps, 4335 s) reaches
1.122/1.211/1.250 against TokenAdapt's 1.143/1.214/1.248 (bench_results/zett_train_absent_pool.json,
tokenizer_transfer_zett_absent_pool.json, which also has the KL3M targets and per-text 95% intervals of
ZeTT/TokenAdapt: GPT-2 0.982 [0.962, 0.995], Qwen3 0.997 [0.958, 1.025], Mistral 1.001 [0.995, 1.007], 16 texts); with
half of the distractors synthetic other-script strings (``absent_foreign=0.5``; 144 steps, stopped by its 4000 s
budget) no better (zett_train_absent.json, tokenizer_transfer_zett_absent.json), so they are off by default. ZeTT now
beats TokenAdapt on GPT-2 and is level with it on Qwen3 and Mistral.

Held-out text: the committed hypernetworks drew their texts from whole corpora, including the fortunes/Jargon chunks
``benchmarks/tokenizer_transfer.py`` evaluates on; replaying their text streams (the stream is seeded and independent
of the model), the LM loss's first ~500 characters of each step's 4 texts covered 12% of those 32k evaluation
characters (the tokenizer-fitting texts covered all of them, which only shapes the sampled vocabularies).
``text_stream(..., held_out=...)`` (``zett_train.py --hold-out-eval``) cuts such chunks out. On English manual pages,
which no step read (bench_results/tokenizer_transfer_zett_man_en.json, 8 texts), ZeTT/TokenAdapt is 0.978 on GPT-2,
0.991 on Mistral and 1.025 on Qwen3 (ZeTT worse there; 14.7% of Qwen3's tokens of that text are new).

Qwen3's most frequent new tokens there ('.\n\n', ';\n', '_MAX', '/group') have shapes only the Llama 3 / Qwen split
pattern produces. 60 more steps with ``pretokenizers=("gpt2", "llama3")`` (evaluation text held out) against a
control of the same 60 steps with the GPT-2 pattern only: Qwen3 1.156 vs 1.208 on the headline text (TokenAdapt
1.214) and 1.269 vs 1.334 on the man pages (TokenAdapt 1.307); GPT-2 and Mistral unchanged
(bench_results/tokenizer_transfer_zett_llama3*.json, tokenizer_transfer_zett_ctl*.json). The headline hypernetwork
is trained from scratch both ways (both patterns, evaluation text held out): on the man pages ZeTT/TokenAdapt is
0.960 on Qwen3 (bench_results/tokenizer_transfer_zett_ho_man_en.json).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

KINDS = ("unigram", "bpe")
# Pre-tokenization of sampled tokenizers. "gpt2": byte-level BPE's GPT-2 pattern (letters, digits and punctuation runs
# are separate pre-tokens). "llama3": the split pattern Llama 3, Qwen2 and Qwen3 publish in their tokenizer.json (one
# non-letter may lead a word, digits one by one, punctuation runs may end in newlines: tokens such as "_MAX", "/lib",
# ".\n\n" that a GPT-2-pattern tokenizer can never hold).
PRETOKENIZERS = {
    "gpt2": None,
    "llama3": (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
        r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    ),
}
SCHEDULES = ("constant", "linear", "cosine")


@dataclass
class ZettTrainingConfig:
    """How the hypernetwork is trained (defaults sized for SmolLM2-135M on one CPU thread)."""

    steps: int = field(default=200, metadata={"help": "optimiser steps (one sampled tokenizer each)"})
    seconds: float | None = field(
        default=None, metadata={"help": "stop after this wall time as well; None = no limit"}
    )
    batch_texts: int = field(default=4, metadata={"help": "texts per step for the LM loss"})
    fit_texts: int = field(
        default=200, metadata={"help": "texts the step's tokenizer is fitted to (the LM loss uses the first ones)"}
    )
    copy_shared: bool = field(
        default=True,
        metadata={"help": "LM loss with the original embeddings for shared tokens (as a transplant does)"},
    )
    aux_tokens: int = field(default=2048, metadata={"help": "shared tokens per step in the aux loss; 0 = all"})
    text_chars: int = field(default=1200, metadata={"help": "characters per text"})
    seq_len: int = field(default=128, metadata={"help": "tokens per text for the LM loss (truncated)"})
    vocab_min: int = field(default=4000, metadata={"help": "smallest sampled vocabulary"})
    vocab_max: int = field(default=16000, metadata={"help": "largest sampled vocabulary"})
    kinds: tuple[str, ...] = field(default=KINDS, metadata={"help": f"tokenizer models to sample from, of {KINDS}"})
    pretokenizers: tuple[str, ...] = field(
        default=("gpt2",),
        metadata={"help": f"pre-tokenizations to sample from, of {tuple(PRETOKENIZERS)} (see PRETOKENIZERS)"},
    )
    noise_std: float = field(default=1.0, metadata={"help": "std of the Gaussian noise on UnigramLM log-scores"})
    aux_weight: float = field(default=0.5, metadata={"help": "weight of the auxiliary embedding loss"})
    absent_tokens: int = field(
        default=0,
        metadata={"help": "distractor tokens per step in the output softmax (absent from the step's vocabulary)"},
    )
    absent_foreign: float = field(
        default=0.0, metadata={"help": "fraction of distractors that are synthetic strings of other scripts"}
    )
    lr: float = field(default=3e-4, metadata={"help": "AdamW (peak) learning rate"})
    schedule: str = field(
        default="constant", metadata={"help": f"learning-rate shape after warm-up, one of {SCHEDULES}"}
    )
    warmup: float = field(
        default=0.0, metadata={"help": "fraction of the run spent ramping the learning rate up linearly from 0"}
    )
    corpora: tuple[str, ...] = field(
        default=("python-stdlib", "fortunes", "jargon", "licenses"),
        metadata={"help": "hf_tokens.assets.text corpora the texts are drawn from"},
    )
    seed: int = field(default=0, metadata={"help": "seed of text, tokenizer and noise sampling"})

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        self.corpora = tuple(self.corpora)
        for name in ("steps", "batch_texts", "fit_texts", "text_chars", "seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.fit_texts < self.batch_texts:
            raise ValueError(f"fit_texts ({self.fit_texts}) must be >= batch_texts ({self.batch_texts})")
        for name in ("aux_tokens", "absent_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if not isinstance(self.absent_foreign, (int, float)) or not 0 <= self.absent_foreign <= 1:
            raise ValueError(f"absent_foreign must be a fraction in [0, 1], got {self.absent_foreign!r}")
        if not isinstance(self.vocab_min, int) or not 300 <= self.vocab_min <= self.vocab_max:
            raise ValueError(f"need 300 <= vocab_min <= vocab_max, got {self.vocab_min!r}, {self.vocab_max!r}")
        if not self.kinds or any(k not in KINDS for k in self.kinds):
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {self.kinds!r}")
        self.pretokenizers = tuple(self.pretokenizers)
        if not self.pretokenizers or any(k not in PRETOKENIZERS for k in self.pretokenizers):
            raise ValueError(
                f"pretokenizers must be a non-empty subset of {tuple(PRETOKENIZERS)}, got {self.pretokenizers!r}"
            )
        if self.noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std!r}")
        check_run_fields(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_run_fields(config: Any) -> None:
    """Validate the fields every hypernetwork training config shares: ``seconds``, ``lr``, ``schedule``, ``warmup``,
    ``aux_weight`` and ``corpora`` (a ``ValueError`` naming the field)."""
    if config.seconds is not None and not config.seconds > 0:
        raise ValueError(f"seconds must be None or > 0, got {config.seconds!r}")
    if not config.lr > 0:
        raise ValueError(f"lr must be > 0, got {config.lr!r}")
    if config.aux_weight < 0:
        raise ValueError(f"aux_weight must be >= 0, got {config.aux_weight!r}")
    if config.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {config.schedule!r}")
    if not isinstance(config.warmup, (int, float)) or not 0 <= config.warmup < 1:
        raise ValueError(f"warmup must be a fraction in [0, 1), got {config.warmup!r}")
    if not config.corpora:
        raise ValueError("corpora must name at least one hf_tokens.assets.text corpus")


def sample_tokenizer(
    texts: list[str], kind: str, vocab_size: int, *, noise_std: float = 0.0, seed: int = 0, pretokenizer: str = "gpt2"
) -> Any:
    """A byte-level ``PreTrainedTokenizerFast`` of ``kind`` ("unigram" or "bpe") fitted to ``texts``.

    UnigramLM piece scores get ``N(0, noise_std)`` noise (the paper's way to diversify sampled tokenizers);
    ``pretokenizer`` is a key of :data:`PRETOKENIZERS`.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if pretokenizer not in PRETOKENIZERS:
        raise ValueError(f"pretokenizer must be one of {tuple(PRETOKENIZERS)}, got {pretokenizer!r}")
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if kind == "bpe":
        tok = Tokenizer(models.BPE())
        trainer: Any = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False)
    else:
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False, max_piece_length=12
        )
    pattern = PRETOKENIZERS[pretokenizer]
    if pattern is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainer=trainer)
    if kind == "unigram" and noise_std > 0:
        spec = json.loads(tok.to_str())
        rng = random.Random(seed)
        for piece in spec["model"]["vocab"]:
            piece[1] = float(piece[1]) + rng.gauss(0.0, noise_std)
        tok = Tokenizer.from_str(json.dumps(spec))
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def all_token_decompositions(
    base_tokenizer: Any, new_tokenizer: Any, num_old_rows: int
) -> tuple[list[int], list[list[int]], dict[int, int]]:
    """Ids of ``new_tokenizer`` with a byte surface, their original-piece decompositions, and shared id -> old id."""
    from hf_tokens.tokenizers.transplantation import TransplantContext
    from hf_tokens.tokenizers.vocab import surface_forms

    old = surface_forms(base_tokenizer, argument="base_tokenizer")
    new = surface_forms(new_tokenizer, argument="new_tokenizer")
    ids = [i for i, s in enumerate(new.surfaces) if s and i not in new.special]
    ctx = TransplantContext(base_tokenizer, new_tokenizer, old, new, {}, ids, num_old_rows)
    lookup = old.lookup()
    shared = {i: lookup[new.surfaces[i]] for i in ids if new.surfaces[i] in lookup}  # type: ignore[index]
    return ids, ctx.decompositions(), shared


def zett_loss(
    hypernetwork: Any,
    model: Any,
    base_tokenizer: Any,
    new_tokenizer: Any,
    texts: list[str],
    config: ZettTrainingConfig,
    absent: list[list[int]] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """LM loss of ``model`` on ``texts`` with predicted embeddings of ``new_tokenizer``, plus the auxiliary loss.

    ``absent`` holds base-piece decompositions of distractor tokens (see
    :class:`~hf_tokens.tokenizers.zett.absent.AbsentTokenSampler`): their predicted output rows join the softmax, so
    the loss also pays for the probability they take, as the rows of a real vocabulary's unused tokens do.

    With ``config.copy_shared`` the tokens ``new_tokenizer`` shares with the base vocabulary take their original
    embeddings in the LM loss (as :func:`~hf_tokens.tokenizers.transplant` does), so the LM loss trains the
    hypernetwork on the tokens it will be asked to predict; the auxiliary loss still reads its predictions for (at
    most ``config.aux_tokens``) shared tokens.
    """
    ids, decomps, shared = all_token_decompositions(
        base_tokenizer, new_tokenizer, hypernetwork.config.source_vocab_size
    )
    keep = [r for r, d in enumerate(decomps) if d]
    ids, decomps = [ids[r] for r in keep], [decomps[r] for r in keep]
    absent = list(absent or [])
    if config.copy_shared:
        return _zett_loss_copy_shared(hypernetwork, model, new_tokenizer, texts, config, ids, decomps, shared, absent)
    emb_in, emb_out = hypernetwork(*hypernetwork.pad(decomps + absent))
    emb_in = emb_in[: len(ids)]  # distractors only widen the output softmax (emb_out keeps their rows at the end)
    row_of = torch.full((len(new_tokenizer),), -1, dtype=torch.long)
    row_of[torch.tensor(ids)] = torch.arange(len(ids))
    lm, n_tokens = _lm_loss(model, new_tokenizer, texts, config, row_of, emb_in, emb_out)
    rows = torch.tensor([r for r, i in enumerate(ids) if i in shared], dtype=torch.long)
    old_ids = torch.tensor([shared[ids[int(r)]] for r in rows], dtype=torch.long)
    aux = aux_loss(hypernetwork, emb_in[rows], emb_out[rows], old_ids)
    total = lm + config.aux_weight * aux
    stats = {"lm": lm.item(), "aux": aux.item(), "vocab": float(len(ids)), "tokens": n_tokens}
    stats["absent"] = float(len(absent))
    return total, stats


def _lm_loss(
    model: Any,
    new_tokenizer: Any,
    texts: list[str],
    config: ZettTrainingConfig,
    row_of: torch.Tensor,
    emb_in: torch.Tensor,
    emb_out: torch.Tensor,
) -> tuple[torch.Tensor, float]:
    """Next-token loss of the frozen ``model`` on ``texts``; token id ``i`` uses row ``row_of[i]`` of ``emb_*``.

    ``emb_out`` may have more rows than ``emb_in`` (distractors): they are never targets, only softmax competitors.
    """
    enc = new_tokenizer(texts, add_special_tokens=False, truncation=True, max_length=config.seq_len)
    seqs = [[int(row_of[i]) for i in s if row_of[i] >= 0] for s in enc["input_ids"]]
    width = max(len(s) for s in seqs)
    tokens = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for r, s in enumerate(seqs):
        tokens[r, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[r, : len(s)] = 1
    hidden = model.base_model(inputs_embeds=emb_in[tokens], attention_mask=mask).last_hidden_state
    logits = hidden[:, :-1] @ emb_out.T
    targets = tokens[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
    lm = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return lm, float(mask.sum())


def _zett_loss_copy_shared(
    hypernetwork: Any,
    model: Any,
    new_tokenizer: Any,
    texts: list[str],
    config: ZettTrainingConfig,
    ids: list[int],
    decomps: list[list[int]],
    shared: dict[int, int],
    absent: list[list[int]],
) -> tuple[torch.Tensor, dict[str, float]]:
    new_rows = [r for r, i in enumerate(ids) if i not in shared]
    shared_rows = [r for r, i in enumerate(ids) if i in shared]
    if config.aux_tokens and len(shared_rows) > config.aux_tokens:
        gen = torch.Generator().manual_seed(len(ids))
        pick = torch.randperm(len(shared_rows), generator=gen)[: config.aux_tokens].sort().values
        aux_rows = [shared_rows[int(k)] for k in pick]
    else:
        aux_rows = shared_rows
    pred_in, pred_out = hypernetwork(*hypernetwork.pad([decomps[r] for r in new_rows + aux_rows] + absent))
    n_aux = len(aux_rows)
    src_in = hypernetwork.source_input.weight
    src_out = src_in if hypernetwork.source_output is None else hypernetwork.source_output.weight
    old_ids = torch.tensor([shared[ids[r]] for r in shared_rows], dtype=torch.long)
    n_new = len(new_rows)
    emb_in = torch.cat([pred_in[:n_new], src_in[old_ids]]) if n_new else src_in[old_ids]
    emb_out = torch.cat([pred_out[:n_new], src_out[old_ids], pred_out[n_new + n_aux :]])
    order = new_rows + shared_rows  # row k of emb_* belongs to ids[order[k]]
    row_of = torch.full((len(new_tokenizer),), -1, dtype=torch.long)
    row_of[torch.tensor([ids[r] for r in order], dtype=torch.long)] = torch.arange(len(order))
    lm, n_tokens = _lm_loss(model, new_tokenizer, texts, config, row_of, emb_in, emb_out)
    aux_old = torch.tensor([shared[ids[r]] for r in aux_rows], dtype=torch.long)
    aux_slice = slice(n_new, n_new + n_aux)
    aux = aux_loss(hypernetwork, pred_in[aux_slice], pred_out[aux_slice], aux_old)
    total = lm + config.aux_weight * aux
    stats = {
        "lm": lm.item(),
        "aux": aux.item(),
        "vocab": float(len(ids)),
        "tokens": n_tokens,
        "new": float(n_new),
        "absent": float(len(absent)),
    }
    return total, stats


def aux_loss(hypernetwork: Any, pred_in: torch.Tensor, pred_out: torch.Tensor, old_ids: torch.Tensor) -> torch.Tensor:
    """The auxiliary loss: predicted vs original embeddings of shared tokens (zero when there are none)."""
    if not len(old_ids):
        return torch.zeros(())
    aux = _relative_mse(pred_in, hypernetwork.source_input.weight[old_ids])
    if hypernetwork.source_output is not None:
        aux = aux + _relative_mse(pred_out, hypernetwork.source_output.weight[old_ids])
    return aux


def _relative_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error per token divided by the mean squared norm of the targets (scale-free across models)."""
    return (pred - target).pow(2).sum(-1).mean() / target.pow(2).sum(-1).mean().clamp(min=1e-12)


def text_stream(config: ZettTrainingConfig, seed: int, held_out: Sequence[str] = ()) -> Callable[[], list[str]]:
    """A deterministic source of batches of ``config.fit_texts`` texts of ``config.text_chars`` characters from
    ``config.corpora`` (see :func:`corpus_stream`)."""
    return corpus_stream(config.corpora, config.fit_texts, config.text_chars, seed, held_out)


def corpus_stream(
    corpora: Sequence[str], texts: int, chars: int, seed: int, held_out: Sequence[str] = ()
) -> Callable[[], list[str]]:
    """A deterministic source of batches of ``texts`` texts of ``chars`` characters, each from a randomly chosen
    corpus of ``corpora``; ``held_out`` chunks (evaluation text) are cut out of the corpora first, so no text drawn
    contains one."""
    from hf_tokens.assets.text import load_text, without

    if isinstance(held_out, str) or not all(isinstance(chunk, str) for chunk in held_out):
        raise TypeError("held_out must be a sequence of strings (the evaluation chunks to leave out)")
    names = tuple(corpora)
    loaded = {name: without(load_text(name), held_out) for name in names}
    rng = random.Random(seed)

    def draw() -> list[str]:
        out = []
        for _ in range(texts):
            text = loaded[rng.choice(names)]
            start = rng.randrange(0, max(len(text) - chars, 1))
            out.append(text[start : start + chars])
        return out

    return draw


def lr_factor(config: ZettTrainingConfig, progress: float) -> float:
    """The learning-rate multiplier at ``progress`` (0..1, the larger of the step and the wall-time fractions)."""
    progress = min(max(progress, 0.0), 1.0)
    if progress < config.warmup:
        return progress / config.warmup
    rest = (progress - config.warmup) / (1.0 - config.warmup)
    if config.schedule == "linear":
        return 1.0 - rest
    if config.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * rest))
    return 1.0


def train_hypernetwork(
    hypernetwork: Any,
    model: Any,
    base_tokenizer: Any,
    config: ZettTrainingConfig | None = None,
    *,
    texts: Callable[[], list[str]] | None = None,
    log: Callable[[dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``hypernetwork`` in place for ``model`` (frozen, unchanged); returns one log row per step."""
    config = config or ZettTrainingConfig()
    if not isinstance(config, ZettTrainingConfig):
        raise TypeError(f"config must be a ZettTrainingConfig, got {type(config).__name__}")
    draw = texts or text_stream(config, config.seed)
    rng = random.Random(config.seed)
    sampler = None
    if config.absent_tokens:  # its own random stream: texts and tokenizers stay those of a run without distractors
        from hf_tokens.tokenizers.zett.absent import AbsentTokenSampler

        sampler = AbsentTokenSampler(base_tokenizer, foreign=config.absent_foreign, seed=config.seed + 1)

    def step_loss() -> tuple[torch.Tensor, dict[str, float]]:
        batch = draw()
        kind = rng.choice(config.kinds)
        size = rng.randint(config.vocab_min, config.vocab_max)
        seed = rng.randrange(2**31)
        # drawn only when there is a choice, so single-pattern runs keep the random stream of earlier versions
        pretok = rng.choice(config.pretokenizers) if len(config.pretokenizers) > 1 else config.pretokenizers[0]
        tok = sample_tokenizer(batch, kind, size, noise_std=config.noise_std, seed=seed, pretokenizer=pretok)
        absent = sampler.draw(config.absent_tokens, tok) if sampler is not None else None
        loss, stats = zett_loss(
            hypernetwork, model, base_tokenizer, tok, batch[: config.batch_texts], config, absent=absent
        )
        if sampler is not None:
            sampler.remember(tok)
        return loss, stats

    return optimise(hypernetwork, model, config, step_loss, log)


def optimise(
    hypernetwork: Any,
    model: Any,
    config: Any,
    step_loss: Callable[[], tuple[torch.Tensor, dict[str, float]]],
    log: Callable[[dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """The training loop shared by hypernetwork objectives: ``step_loss()`` gives each step's loss and stats.

    AdamW on the hypernetwork's trainable parameters (its source embeddings stay frozen), gradient clipping at 1,
    ``config.steps`` steps or ``config.seconds`` of wall time, learning rate ``config.lr`` shaped by
    :func:`lr_factor`; ``model`` is frozen during the run and gets its ``requires_grad`` flags and mode back after it,
    also on error. Returns one log row per step.
    """
    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    model.eval().requires_grad_(False)
    hypernetwork.freeze_sources()  # the base embeddings it reads are never trained, however it was built or loaded
    params = [p for p in hypernetwork.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    hypernetwork.train()
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    try:
        for step in range(config.steps):
            elapsed = time.perf_counter() - start
            if config.seconds is not None and elapsed > config.seconds:
                break
            progress = max(step / config.steps, elapsed / config.seconds if config.seconds else 0.0)
            lr = config.lr * lr_factor(config, progress)
            for group in opt.param_groups:
                group["lr"] = lr
            loss, stats = step_loss()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            row = {"step": float(step), "loss": loss.item(), **stats, "lr": lr, "seconds": time.perf_counter() - start}
            history.append(row)
            if log is not None:
                log(row)
    finally:
        hypernetwork.eval()
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)
    return history
