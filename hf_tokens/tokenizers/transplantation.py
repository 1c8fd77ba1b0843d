"""One converter API for tokenizer transplantation, with pluggable embedding initialisers.

``transplant(model, old_tokenizer, new_tokenizer, method=...)`` returns a copy of ``model`` whose input embeddings
and LM head (tied or untied, with its bias if any) are indexed by ``new_tokenizer``'s ids, and a copy of
``new_tokenizer``::

    from hf_tokens.tokenizers import transplant
    new_model, new_tok = transplant(model, tok, load_tokenizer("qwen3"), method="tokenadapt")
    new_model.save_pretrained(out); new_tok.save_pretrained(out)   # from_pretrained(out) reloads both

How rows are filled:

* **shared tokens** (the same byte string in both vocabularies, see :mod:`hf_tokens.tokenizers.vocab`) and special
  tokens with the same content keep their old rows bit-exactly;
* with ``map_special_tokens=True`` (default) the new tokenizer's bos/eos/pad/unk tokens that have no same-content
  counterpart copy the row of the old tokenizer's token in the same role (e.g. Mistral's ``</s>`` takes SmolLM2's
  eos row);
* every other new token is filled by the chosen :class:`Initializer` (``"tokenadapt"``, ``"mean"``, ``"random"`` or
  one added with :func:`register_initializer`).

The input model is never modified: all arguments are validated, then the work happens on a deep copy. The returned
model's ``config`` (``vocab_size``, ``bos/eos/pad_token_id``) and ``generation_config`` follow the new tokenizer.
A PEFT-wrapped model is rejected with a ``TypeError`` (merge the adapters first); see :func:`transplant`.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from hf_tokens.registry import load_object
from hf_tokens.tokenizers.vocab import Vocabulary, backend_of, surface_forms

if TYPE_CHECKING:
    import torch

_ROLES = ("eos_token", "bos_token", "pad_token", "unk_token")
# the old tokenizer must cover this share of the embedding rows (models pad a little: Qwen2.5 151665 of 151936)
MIN_VOCAB_COVERAGE = 0.98


@dataclass
class TransplantContext:
    """What an initialiser sees: both tokenizers, their vocabularies and the ids it must fill."""

    old_tokenizer: Any
    new_tokenizer: Any
    old_vocab: Vocabulary
    new_vocab: Vocabulary
    copied: dict[int, int]  # new id -> old id whose rows are copied exactly
    missing: list[int]  # new ids the initialiser fills, in this order
    num_old_rows: int  # rows of the old embedding matrix (may exceed len(old_vocab) when padded)
    _decomposition: list[list[int]] | None = field(default=None, repr=False)

    def decompositions(self) -> list[list[int]]:
        """Old-tokenizer ids of each missing token's text (same order as :attr:`missing`).

        The old tokenizer encodes the token's text; when the concatenated old surfaces do not reproduce the token's
        bytes (a SentencePiece dummy prefix, half a UTF-8 character, normalisation), a greedy longest-match over the
        old vocabulary's byte strings is used instead. Special tokens of the old vocabulary are never used.
        """
        if self._decomposition is None:
            self._decomposition = _decompose(self)
        return self._decomposition


def _decompose(ctx: TransplantContext) -> list[list[int]]:
    backend = backend_of(ctx.old_tokenizer, argument="old_tokenizer")
    surfaces = ctx.old_vocab.surfaces
    texts = [ctx.new_vocab.text(i) for i in ctx.missing]
    encodings = backend.encode_batch(texts, add_special_tokens=False) if texts else []
    lookup = ctx.old_vocab.lookup()
    longest = max((len(s) for s in lookup), default=1)
    out: list[list[int]] = []
    for new_id, enc in zip(ctx.missing, encodings):
        target = ctx.new_vocab.surfaces[new_id] or b""
        ids = [i for i in enc.ids if i < ctx.num_old_rows and i not in ctx.old_vocab.special]
        if b"".join(surfaces[i] or b"" for i in ids) != target:
            ids = _greedy_bytes(target, lookup, longest)
        out.append(ids)
    return out


def _greedy_bytes(target: bytes, lookup: dict[bytes, int], longest: int) -> list[int]:
    """Left-to-right longest match of ``target`` over the old byte strings (unmatched bytes are skipped)."""
    ids: list[int] = []
    pos = 0
    while pos < len(target):
        for end in range(min(len(target), pos + longest), pos, -1):
            idx = lookup.get(target[pos:end])
            if idx is not None:
                ids.append(idx)
                pos = end
                break
        else:
            pos += 1
    return ids


class Initializer(abc.ABC):
    """Fills the embedding rows of new tokens. Subclasses implement :meth:`initialize`.

    ``initialize(ctx, matrices)`` receives the old model's matrices that are indexed by token id (input embeddings,
    the untied LM head, the LM-head bias as an ``[n, 1]`` matrix) and returns, for each, the rows of
    ``ctx.missing`` in order. :meth:`prepare` runs before any heavy work (load auxiliary models there, so a missing
    one fails early).
    """

    name: ClassVar[str] = ""

    def prepare(self, ctx: TransplantContext) -> None:  # noqa: B027 - optional hook
        """Check/load what :meth:`initialize` needs; raise here rather than half-way through."""

    @abc.abstractmethod
    def initialize(self, ctx: TransplantContext, matrices: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Rows for ``ctx.missing`` of every matrix in ``matrices``."""


class CombinationInitializer(Initializer):
    """An initialiser whose new rows are weighted sums of old rows (the same weights for every matrix).

    Subclasses return a sparse ``[len(missing), num_old_rows]`` weight matrix from :meth:`weights`; rows with no
    weight fall back to :class:`RandomInitializer`'s statistics-matched normal draw (as in the TokenAdapt code).
    """

    seed: int = 0

    @abc.abstractmethod
    def weights(self, ctx: TransplantContext) -> torch.Tensor:
        """A sparse COO ``float32`` tensor of shape ``[len(ctx.missing), ctx.num_old_rows]``."""

    def initialize(self, ctx: TransplantContext, matrices: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        import torch

        w = self.weights(ctx).coalesce()
        covered = torch.zeros(len(ctx.missing), dtype=torch.bool)
        covered[w.indices()[0]] = True
        fallback = RandomInitializer(seed=self.seed)
        out = []
        for matrix in matrices:
            rows = torch.sparse.mm(w, matrix.detach().float().cpu())
            fallback.fill(rows, ~covered, matrix)
            out.append(rows)
        return out


class MeanInitializer(CombinationInitializer):
    """Baseline: the plain mean of the old-tokenizer subtokens' rows."""

    name = "mean"

    def weights(self, ctx: TransplantContext) -> torch.Tensor:
        import torch

        rows, cols, vals = [], [], []
        for r, ids in enumerate(ctx.decompositions()):
            for i in ids:
                rows.append(r)
                cols.append(i)
                vals.append(1.0 / len(ids))
        return _sparse(rows, cols, vals, (len(ctx.missing), ctx.num_old_rows), torch)


class RandomInitializer(Initializer):
    """Baseline: a normal draw matched per dimension to the mean and standard deviation of the old matrix."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        if not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.seed = seed

    def draw(self, matrix: torch.Tensor, n: int) -> torch.Tensor:
        import torch

        m = matrix.detach().float().cpu()
        gen = torch.Generator().manual_seed(self.seed)
        noise = torch.randn(n, m.shape[1], generator=gen)
        return m.mean(0) + noise * m.std(0)

    def fill(self, rows: torch.Tensor, where: torch.Tensor, matrix: torch.Tensor) -> None:
        """Set ``rows[where]`` (a boolean mask) to draws from ``matrix``'s statistics, the k-th masked row the k-th
        draw: every initialiser that falls back through this gives the same uncovered tokens the same rows."""
        if bool(where.any()):
            rows[where] = self.draw(matrix, int(where.sum()))

    def initialize(self, ctx: TransplantContext, matrices: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [self.draw(m, len(ctx.missing)) for m in matrices]


def _sparse(rows: list[int], cols: list[int], vals: list[float], shape: tuple[int, int], torch: Any) -> Any:
    index = torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1)
    return torch.sparse_coo_tensor(index, torch.tensor(vals, dtype=torch.float32), shape, check_invariants=True)


# name -> class or "module:Class"; initialisers of other papers (zett, dynamic-tokenization) add themselves here.
INITIALIZERS: dict[str, type[Initializer] | str] = {
    "mean": MeanInitializer,
    "random": RandomInitializer,
    "tokenadapt": "hf_tokens.tokenizers.tokenadapt.initializer:TokenAdaptInitializer",
    "zett": "hf_tokens.tokenizers.zett.initializer:ZettInitializer",
}


def register_initializer(name: str, target: type[Initializer] | str) -> None:
    """Make ``transplant(..., method=name)`` use ``target`` (an :class:`Initializer` subclass or "module:Class")."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if not (isinstance(target, str) and ":" in target) and not (
        isinstance(target, type) and issubclass(target, Initializer)
    ):
        raise TypeError(f"target must be an Initializer subclass or a 'module:Class' string, got {target!r}")
    INITIALIZERS[name] = target


def make_initializer(method: str | Initializer, **options: Any) -> Initializer:
    """An initialiser instance from a registered name and its options (validated here, before any work)."""
    if isinstance(method, Initializer):
        if options:
            raise ValueError(f"options {sorted(options)} cannot be combined with an Initializer instance")
        return method
    if not isinstance(method, str) or method not in INITIALIZERS:
        raise ValueError(f"method must be one of {sorted(INITIALIZERS)} or an Initializer, got {method!r}")
    target = INITIALIZERS[method]
    cls = load_object(target) if isinstance(target, str) else target
    try:
        return cls(**options)
    except TypeError as exc:
        raise TypeError(f"invalid options for method {method!r}: {exc}") from exc


def _check_model(model: Any) -> None:
    if type(model).__module__.startswith("peft") or hasattr(model, "peft_config"):
        raise TypeError(
            "model is a PEFT-wrapped model; transplant the base model instead: merge the adapters with "
            "`model = model.merge_and_unload()` (or transplant `model.get_base_model()` before wrapping it) and "
            "re-create the adapter afterwards, because adapters saved for the old vocabulary do not fit the new one"
        )
    if not (hasattr(model, "get_input_embeddings") and hasattr(model, "resize_token_embeddings")):
        raise TypeError(f"model must be a transformers PreTrainedModel, got {type(model).__name__}")
    if model.get_input_embeddings() is None:
        raise ValueError("model has no input embeddings (get_input_embeddings() returned None)")


def _role_map(old_tok: Any, new_tok: Any, old: Vocabulary, new: Vocabulary, copied: dict[int, int]) -> None:
    for role in _ROLES:
        new_id = getattr(new_tok, f"{role}_id", None)
        old_id = getattr(old_tok, f"{role}_id", None)
        if role == "bos_token" and old_id is None:  # no bos in the old model: a document separator plays it
            old_id = getattr(old_tok, "eos_token_id", None)
        if new_id is None or old_id is None or new_id in copied or old_id >= len(old):
            continue
        copied[new_id] = old_id


def build_context(
    model: Any, old_tokenizer: Any, new_tokenizer: Any, *, map_special_tokens: bool = True
) -> TransplantContext:
    """Validate the arguments and match the two vocabularies (no weights are touched)."""
    _check_model(model)
    old = surface_forms(old_tokenizer, argument="old_tokenizer")
    new = surface_forms(new_tokenizer, argument="new_tokenizer")
    rows = model.get_input_embeddings().weight.shape[0]
    if len(old) > rows or len(old) < MIN_VOCAB_COVERAGE * rows:
        raise ValueError(
            f"old_tokenizer does not match the model: it has {len(old)} ids but the model's embedding matrix has "
            f"{rows} rows (a model may pad a few rows, at most {1 - MIN_VOCAB_COVERAGE:.0%}); pass the tokenizer "
            "the model was trained with"
        )
    lookup = old.lookup()
    specials = {old.surfaces[i]: i for i in old.special}
    copied: dict[int, int] = {}
    for idx, surface in enumerate(new.surfaces):
        if surface is None:
            continue
        source = specials.get(surface) if idx in new.special else lookup.get(surface)
        if source is None and idx in new.special:
            source = lookup.get(surface)
        if source is not None:
            copied[idx] = source
    if map_special_tokens:
        _role_map(old_tokenizer, new_tokenizer, old, new, copied)
    missing = [i for i in range(len(new)) if i not in copied]
    return TransplantContext(old_tokenizer, new_tokenizer, old, new, copied, missing, rows)


def _matrices(model: Any) -> tuple[list[torch.Tensor], bool, bool]:
    """Old matrices indexed by token id: [input, (untied head), (head bias as [n,1])], tied flag, bias flag."""
    inp = model.get_input_embeddings().weight
    out_layer = model.get_output_embeddings()
    mats = [inp]
    tied = out_layer is None or out_layer.weight.data_ptr() == inp.data_ptr()
    if not tied:
        if out_layer.weight.shape[0] != inp.shape[0]:
            raise ValueError(
                f"model's LM head has {out_layer.weight.shape[0]} rows but its input embeddings {inp.shape[0]}"
            )
        mats.append(out_layer.weight)
    bias = getattr(out_layer, "bias", None) if out_layer is not None else None
    if bias is not None:
        mats.append(bias.unsqueeze(1))
    return mats, tied, bias is not None


def _assemble(ctx: TransplantContext, old: torch.Tensor, filled: torch.Tensor, size: int) -> torch.Tensor:
    import torch

    new = torch.zeros(size, old.shape[1], dtype=old.dtype)
    if ctx.copied:
        dst = torch.tensor(list(ctx.copied), dtype=torch.long)
        src = torch.tensor(list(ctx.copied.values()), dtype=torch.long)
        new[dst] = old.detach().cpu()[src]
    if ctx.missing:
        new[torch.tensor(ctx.missing, dtype=torch.long)] = filled.to(old.dtype)
    if size > len(ctx.new_vocab):  # padding rows (pad_to_multiple_of): the mean row, never produced by the tokenizer
        new[len(ctx.new_vocab) :] = old.detach().float().mean(0).to(old.dtype)
    return new


def _update_config(model: Any, tokenizer: Any) -> None:
    for role in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, role, None)
        setattr(model.config, role, value)
        if getattr(model, "generation_config", None) is not None:
            setattr(model.generation_config, role, value)


def transplant(
    model: Any,
    old_tokenizer: Any,
    new_tokenizer: Any,
    method: str | Initializer = "tokenadapt",
    *,
    map_special_tokens: bool = True,
    pad_to_multiple_of: int | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> tuple[Any, Any]:
    """Move ``model`` from ``old_tokenizer`` to ``new_tokenizer``; returns ``(new_model, new_tokenizer_copy)``.

    Args:
        model: a transformers causal/masked LM (not PEFT-wrapped: ``TypeError``; merge adapters first).
        old_tokenizer: the fast tokenizer ``model`` was trained with (its ids must fit the embedding matrix).
        new_tokenizer: the fast tokenizer to move to (it needs a decoder, so its tokens' bytes are known).
        method: a registered initialiser name (``"tokenadapt"``, ``"mean"``, ``"random"``) or an
            :class:`Initializer` instance; ``options`` are passed to its constructor (e.g. ``top_k=3``).
        map_special_tokens: copy old bos/eos/pad/unk rows to the new tokenizer's tokens of the same role.
        pad_to_multiple_of: round the new embedding size up (padding rows get the mean row).
        progress: optional callable receiving short status lines.
    """
    import torch

    if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1):
        raise ValueError(f"pad_to_multiple_of must be a positive int or None, got {pad_to_multiple_of!r}")
    initializer = make_initializer(method, **options)
    ctx = build_context(model, old_tokenizer, new_tokenizer, map_special_tokens=map_special_tokens)
    old_matrices, tied, has_bias = _matrices(model)
    if ctx.missing:
        initializer.prepare(ctx)
    say = progress or (lambda _msg: None)
    say(f"{len(ctx.copied)} tokens copied, {len(ctx.missing)} initialised with {getattr(initializer, 'name', method)}")
    with torch.no_grad():
        filled = initializer.initialize(ctx, old_matrices) if ctx.missing else [m[:0] for m in old_matrices]
        if len(filled) != len(old_matrices) or any(
            f.shape != (len(ctx.missing), m.shape[1]) for f, m in zip(filled, old_matrices)
        ):
            raise RuntimeError(f"initializer {initializer!r} returned rows of the wrong shape")
        if not all(bool(torch.isfinite(f).all()) for f in filled):
            raise RuntimeError(f"initializer {initializer!r} produced non-finite embeddings")
        size = len(ctx.new_vocab)
        if pad_to_multiple_of:
            size = -(-size // pad_to_multiple_of) * pad_to_multiple_of
        new_rows = [_assemble(ctx, m, f, size) for m, f in zip(old_matrices, filled)]

        new_model = copy.deepcopy(model)
        new_model.resize_token_embeddings(size, mean_resizing=False)
        device = new_model.get_input_embeddings().weight.device
        new_model.get_input_embeddings().weight.copy_(new_rows[0].to(device))
        head = new_model.get_output_embeddings()
        if not tied:
            head.weight.copy_(new_rows[1].to(device))
        if has_bias:
            head.bias.copy_(new_rows[-1].squeeze(1).to(device))
        if tied and head is not None and head.weight.data_ptr() != new_model.get_input_embeddings().weight.data_ptr():
            new_model.tie_weights()
    new_tok = copy.deepcopy(new_tokenizer)
    _update_config(new_model, new_tok)
    new_model.config.vocab_size = size
    return new_model, new_tok
