"""``transplant(..., method="zett", hypernetwork=...)``: new tokens' rows predicted by a ZeTT hypernetwork, zero-shot.

Shared tokens keep their rows (as for every initialiser of :func:`hf_tokens.tokenizers.transplant`); every other new
token is decomposed into original pieces (:meth:`TransplantContext.decompositions`) and the hypernetwork predicts its
input embedding and (untied models) LM-head row. Deviation: an LM-head bias, which the paper's models do not have, gets
the mean of the pieces' biases; tokens with no original piece at all (bytes the base vocabulary lacks: 27 of
Mistral's byte tokens for SmolLM2) get the statistics-matched random draw exactly as mean initialisation gives it (the
k-th such token the k-th draw), so a comparison of methods does not hinge on the luck of different draws (ZeTT's own
draws for those 27 tokens had cost it 1.266 vs 1.261 on Mistral with the 274-step hypernetwork).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from hf_tokens.tokenizers.transplantation import Initializer, RandomInitializer, TransplantContext
from hf_tokens.tokenizers.zett.hypernetwork import ZettHypernetwork, load_hypernetwork


class ZettInitializer(Initializer):
    """Fills new rows with a :class:`ZettHypernetwork` (an instance or a saved folder)."""

    name = "zett"

    def __init__(self, hypernetwork: ZettHypernetwork | str | Path, *, batch_size: int = 2048, seed: int = 0) -> None:
        if isinstance(hypernetwork, (str, Path)):
            hypernetwork = load_hypernetwork(hypernetwork)
        if not isinstance(hypernetwork, ZettHypernetwork):
            raise TypeError(
                "hypernetwork must be a ZettHypernetwork or a folder saved from one, "
                f"got {type(hypernetwork).__name__}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.hypernetwork = hypernetwork
        self.batch_size = batch_size
        self.seed = seed

    def prepare(self, ctx: TransplantContext) -> None:
        cfg = self.hypernetwork.config
        if cfg.source_vocab_size != ctx.num_old_rows:
            raise ValueError(
                f"hypernetwork was trained for another model: it expects {cfg.source_vocab_size} embedding rows "
                f"(base model {cfg.base_model or '?'}), this model has {ctx.num_old_rows}"
            )
        if cfg.source_vocab_fingerprint and cfg.source_vocab_fingerprint != ctx.old_vocab.fingerprint():
            raise ValueError(
                f"hypernetwork was trained for another tokenizer than old_tokenizer "
                f"(base model {cfg.base_model or '?'})"
            )
        decomps = ctx.decompositions()
        if not ctx.copied and not any(decomps):
            raise ValueError(
                "new_tokenizer has no overlap with old_tokenizer: no shared token and no new token decomposes into "
                "original pieces, so the hypernetwork has nothing to read"
            )

    def initialize(self, ctx: TransplantContext, matrices: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        net, cfg = self.hypernetwork, self.hypernetwork.config
        inp = matrices[0]
        if inp.shape[1] != cfg.embedding_dim:
            raise ValueError(
                f"hypernetwork was trained for another model: embedding size {cfg.embedding_dim}, model {inp.shape[1]}"
            )
        tied = len(matrices) == 1 or (len(matrices) == 2 and matrices[1].shape[1] == 1)
        if tied != bool(cfg.tied_embeddings):
            raise ValueError(
                f"hypernetwork was trained for a model with {'tied' if cfg.tied_embeddings else 'untied'} embeddings"
            )
        if not torch.allclose(net.source_input.weight.detach().cpu(), inp.detach().float().cpu(), atol=1e-4):
            raise ValueError(
                f"hypernetwork was trained for another model ({cfg.base_model or '?'}): its source embeddings differ "
                "from this model's input embeddings"
            )
        decomps = ctx.decompositions()
        rows = [r for r, d in enumerate(decomps) if d]
        emb_in, emb_out = net.predict([decomps[r] for r in rows], batch_size=self.batch_size)
        # tokens the base vocabulary cannot spell (bytes it lacks) get the random fallback as mean initialisation
        # gives it (TokenAdapt too, for the tokens none of its heuristics cover)
        unspelled = torch.tensor([not d for d in decomps], dtype=torch.bool)
        fallback = RandomInitializer(seed=self.seed)
        out = []
        for k, matrix in enumerate(matrices):
            full = torch.zeros(len(decomps), matrix.shape[1])
            fallback.fill(full, unspelled, matrix)
            if rows:
                index = torch.tensor(rows, dtype=torch.long)
                if k == 0:
                    full[index] = emb_in.float().cpu()
                elif k == 1 and not tied:
                    full[index] = emb_out.float().cpu()
                else:  # LM-head bias [n, 1]: mean of the pieces' biases
                    m = matrix.detach().float().cpu()
                    full[index] = torch.stack([m[decomps[r]].mean(0) for r in rows])
            out.append(full)
        return out


class ZettConverter:
    """``ZettConverter(hypernetwork).convert(model, old_tokenizer, new_tokenizer)``: a zero-shot transplant."""

    def __init__(self, hypernetwork: ZettHypernetwork | str | Path, **transplant_kwargs: Any) -> None:
        self.initializer = ZettInitializer(hypernetwork)
        self.transplant_kwargs = transplant_kwargs

    def convert(self, model: Any, old_tokenizer: Any, new_tokenizer: Any) -> tuple[Any, Any]:
        from hf_tokens.tokenizers.transplantation import transplant

        return transplant(model, old_tokenizer, new_tokenizer, self.initializer, **self.transplant_kwargs)

    __call__ = convert


def contract() -> dict[str, Any]:
    """The `tokenizers` contract: a fresh (untrained, seeded) hypernetwork for the model being converted."""

    def convert(model: Any, old_tokenizer: Any, new_tokenizer: Any) -> tuple[Any, Any]:
        net = ZettHypernetwork.for_model(model, old_tokenizer, hidden_size=32, num_heads=2, intermediate_size=64)
        return ZettConverter(net).convert(model, old_tokenizer, new_tokenizer)

    return {"convert": convert}
