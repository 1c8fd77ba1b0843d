"""Generation with a large dynamic vocabulary (the paper's decoder setting 2), as far as it runs here.

The output vocabulary is the original one plus the dynamic tokens (their output rows predicted from their
decompositions); the next token is the approximate maximum-inner-product match of the last hidden state, found with
an inverted-file index (:class:`OutputIndex`: k-means lists, ``n_probe`` lists searched). A chosen dynamic token is fed
back through its predicted input embedding, so one step can emit several original tokens.

Deviations: the paper searches with an off-the-shelf ANN library over a vocabulary of up to a million entries built
from a corpus and predicts embeddings with its hypernetwork; here the index is a small pure-PyTorch IVF, the vocabulary
is whatever decompositions the caller passes (e.g. a :class:`~.merges.DynamicBatch`'s), only greedy decoding is
supported, and any bias of the output layer is ignored (SmolLM2 has none).
"""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.tokenizers.dynamic.predictor import EmbeddingPredictor


class OutputIndex:
    """Inverted-file index for maximum inner product search over the rows of ``weight`` ``[n, d]``."""

    def __init__(self, weight: torch.Tensor, *, n_lists: int = 64, n_probe: int = 8, iters: int = 10, seed: int = 0):
        if not 1 <= n_probe <= n_lists:
            raise ValueError(f"n_probe must be in [1, n_lists={n_lists}], got {n_probe}")
        self.weight = weight.detach().float()
        n_lists = min(n_lists, self.weight.shape[0])
        self.n_probe = min(n_probe, n_lists)
        gen = torch.Generator().manual_seed(seed)
        centroids = self.weight[torch.randperm(self.weight.shape[0], generator=gen)[:n_lists]].clone()
        for _ in range(iters):  # k-means (Lloyd); empty lists keep their centroid
            assign = torch.cdist(self.weight, centroids).argmin(1)
            sums = torch.zeros_like(centroids).index_add_(0, assign, self.weight)
            counts = torch.bincount(assign, minlength=n_lists).unsqueeze(1)
            centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        self.centroids = centroids
        assign = torch.cdist(self.weight, centroids).argmin(1)
        self.lists = [torch.nonzero(assign == c).flatten() for c in range(n_lists)]

    def search(self, query: torch.Tensor) -> int:
        """Row index with the largest inner product with ``query`` among the ``n_probe`` closest lists."""
        query = query.float()
        probe = (self.centroids @ query).topk(self.n_probe).indices
        candidates = torch.cat([self.lists[int(c)] for c in probe])
        return int(candidates[(self.weight[candidates] @ query).argmax()])


@torch.no_grad()
def generate_dynamic(
    model: Any,
    prompt_ids: list[int],
    decompositions: list[list[int]],
    predictor: EmbeddingPredictor,
    *,
    max_steps: int = 32,
    n_lists: int = 64,
    n_probe: int = 8,
    eos_token_id: int | None = None,
) -> tuple[list[int], int]:
    """Greedy generation over the original + dynamic vocabulary; returns (generated original ids, decoding steps).

    ``prompt_ids``: original ids (the prompt is prefilled as is); ``decompositions``: the dynamic vocabulary.
    """
    if not prompt_ids:
        raise ValueError("prompt_ids must hold at least one token")
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    inp = model.get_input_embeddings().weight
    out_layer = model.get_output_embeddings()
    if out_layer is None:
        raise TypeError("generate_dynamic needs a causal LM with an output embedding")
    vocab = out_layer.weight.shape[0]
    if decompositions:
        emb_in, emb_out = predictor.predict(decompositions)
        if tuple(emb_in.shape) != (len(decompositions), inp.shape[1]) or emb_out.shape != emb_in.shape:
            raise ValueError(f"predictor returned shapes {tuple(emb_in.shape)}/{tuple(emb_out.shape)}, expected "
                             f"({len(decompositions)}, {inp.shape[1]})")  # fmt: skip
        table_in = torch.cat([inp[:vocab], emb_in.to(inp)])
        table_out = torch.cat([out_layer.weight, emb_out.to(out_layer.weight)])
    else:
        table_in, table_out = inp[:vocab], out_layer.weight
    index = OutputIndex(table_out, n_lists=n_lists, n_probe=n_probe)
    decoder = model.base_model
    embeds = inp[torch.as_tensor(prompt_ids, device=inp.device)][None]
    cache, generated, steps = None, [], 0
    for steps in range(1, max_steps + 1):  # noqa: B007 (the count is returned)
        out = decoder(inputs_embeds=embeds, past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        token = index.search(out.last_hidden_state[0, -1])
        pieces = [token] if token < vocab else list(decompositions[token - vocab])
        generated.extend(pieces)
        if eos_token_id is not None and eos_token_id in pieces:
            break
        embeds = table_in[token][None, None]
    return generated, steps
