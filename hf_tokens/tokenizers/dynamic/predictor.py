"""Embedding predictors for dynamic tokens: the protocol and the mean-of-pieces baseline (FVT-style)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class EmbeddingPredictor(Protocol):
    """Predicts input and output embeddings of new tokens from their decomposition in the original tokenizer.

    ``predict(decompositions)`` returns ``(input_emb [n, d], output_emb [n, d])``. ZeTT's hypernetwork
    (``hf_tokens.tokenizers.zett``) implements the same method.
    """

    def predict(self, decompositions: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]: ...


class MeanPiecesPredictor:
    """Each new token's embedding is the mean of its pieces' rows (input and output embeddings separately).

    The paper's simple baseline (the FVT initialisation). For a model without an output embedding (an encoder),
    the output rows are the input rows' means.
    """

    def __init__(self, model: Any) -> None:
        inp = model.get_input_embeddings()
        if inp is None:
            raise TypeError("model has no input embeddings (get_input_embeddings() returned None)")
        self.input_weight = inp.weight
        out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        self.output_weight = out.weight if out is not None else inp.weight

    @torch.no_grad()
    def predict(self, decompositions: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        vocab = self.input_weight.shape[0]
        rows_in, rows_out = [], []
        for pieces in decompositions:
            if not pieces or any(not 0 <= int(p) < vocab for p in pieces):
                raise ValueError(f"every decomposition must be a non-empty list of ids in [0, {vocab}), got {pieces}")
            idx = torch.as_tensor(list(pieces), dtype=torch.long, device=self.input_weight.device)
            rows_in.append(self.input_weight[idx].mean(0))
            rows_out.append(self.output_weight[idx].mean(0))
        d_in, d_out = self.input_weight.shape[1], self.output_weight.shape[1]
        if not rows_in:
            return self.input_weight.new_zeros(0, d_in), self.output_weight.new_zeros(0, d_out)
        return torch.stack(rows_in), torch.stack(rows_out)
