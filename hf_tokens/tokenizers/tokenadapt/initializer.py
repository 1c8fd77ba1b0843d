"""The TokenAdapt hybrid heuristic (Sharthak et al., 2025, arXiv:2505.09738, section 3).

For a new token ``t`` with text ``s`` and auxiliary embedding ``phi(s)`` (unit norm):

* **local estimate** — the old tokenizer splits ``s`` into subtokens ``d_1..d_m``. Each gets a semantic weight
  ``softmax_i(cos(phi(s), phi(d_i)) / T)`` and a length weight ``len(d_i) / len(s)``; the final weights are
  ``softmax_i(((semantic_i + length_i) / 2) / T)`` and ``e_local = sum_i w_i E_old[d_i]``.
* **global estimate** — the ``k`` old-vocabulary tokens whose auxiliary embeddings are most similar to
  ``phi(s)`` (cosine, dropping those below the similarity threshold) with weights ``softmax(sim / T)``:
  ``e_global = sum_j w_j E_old[n_j]``.
* ``e_new = (1 - w) e_local + w e_global``; when only one estimate exists it is used alone; tokens with neither get
  a normal draw matched to the embedding statistics (as in the authors' code).

The same weights build the input embedding, the untied LM head and its bias. Deviations from the paper, by design:
the auxiliary model is the bundled all-MiniLM-L6-v2 (the paper: nomic-embed-text-v2-moe); lengths are counted in
bytes of the token's surface form (the authors' code counts characters of the decoded string: the same for ASCII);
the authors' code also copies case-insensitive matches as shared tokens, which is not done here (only exact byte
matches are shared). With ``max_aux_tokens`` set (not the default) tokens beyond the limit get the local estimate
with uniform semantic weights (so only the length term ranks the subtokens) and no global one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hf_tokens.tokenizers.tokenadapt.auxiliary import AuxEncoder
from hf_tokens.tokenizers.tokenadapt.config import TokenAdaptConfig
from hf_tokens.tokenizers.transplantation import CombinationInitializer, TransplantContext


class TokenAdaptInitializer(CombinationInitializer):
    """``transplant(..., method="tokenadapt", top_k=3, temperature=0.3, global_weight=0.3)``."""

    name = "tokenadapt"

    def __init__(
        self,
        config: TokenAdaptConfig | None = None,
        *,
        encoder: AuxEncoder | tuple[Any, Any] | None = None,
        priority_ids: Sequence[int] = (),
        **options: Any,
    ) -> None:
        if config is not None and options:
            raise ValueError(f"pass either config or options {sorted(options)}, not both")
        if config is not None and not isinstance(config, TokenAdaptConfig):
            raise TypeError(f"config must be a TokenAdaptConfig, got {type(config).__name__}")
        self.config = config if config is not None else TokenAdaptConfig(**options)
        self.seed = self.config.seed
        if isinstance(encoder, tuple):
            if len(encoder) != 2:
                raise TypeError("encoder must be an AuxEncoder or a (model, tokenizer) pair")
            encoder = AuxEncoder("custom", *encoder, batch_size=self.config.batch_size, cache=False)
        if encoder is not None and not isinstance(encoder, AuxEncoder):
            raise TypeError(
                f"encoder must be an AuxEncoder or a (model, tokenizer) pair, got {type(encoder).__name__}"
            )
        self.encoder = encoder
        self.priority_ids = frozenset(int(i) for i in priority_ids)

    def prepare(self, ctx: TransplantContext) -> None:
        if self.encoder is None:
            self.encoder = AuxEncoder.load(
                self.config.encoder, batch_size=self.config.batch_size, cache=self.config.cache
            )

    def _embedded_rows(self, ctx: TransplantContext) -> list[int]:
        """Positions in ``ctx.missing`` whose strings go through the auxiliary encoder."""
        limit = self.config.max_aux_tokens
        if limit is None or limit >= len(ctx.missing):
            return list(range(len(ctx.missing)))
        first = [r for r, i in enumerate(ctx.missing) if i in self.priority_ids][:limit]
        chosen = set(first)
        for r in range(len(ctx.missing)):
            if len(chosen) >= limit:
                break
            chosen.add(r)
        return sorted(chosen)

    def weights(self, ctx: TransplantContext) -> torch.Tensor:
        if self.encoder is None:
            self.prepare(ctx)
        assert self.encoder is not None
        cfg = self.config
        old, new = ctx.old_vocab, ctx.new_vocab
        # auxiliary embeddings of every ordinary old token (special tokens and empty ids get a zero vector)
        old_ok = [i for i in range(len(old)) if old.surfaces[i] and i not in old.special]
        phi_old = torch.zeros(ctx.num_old_rows, self._dim())
        phi_old[old_ok] = self.encoder.embed([old.text(i) for i in old_ok], desc="old vocabulary")
        rows = self._embedded_rows(ctx)
        phi_new = torch.zeros(len(ctx.missing), self._dim())
        has_phi = torch.zeros(len(ctx.missing), dtype=torch.bool)
        if rows:
            phi_new[rows] = self.encoder.embed([new.text(ctx.missing[r]) for r in rows], desc="new tokens")
            has_phi[rows] = True
        entries: dict[tuple[int, int], float] = {}
        w_global = cfg.global_weight if old_ok else 0.0
        local_rows = self._local(ctx, phi_old, phi_new, has_phi)
        global_rows = self._global(phi_old, phi_new, has_phi, old_ok) if w_global > 0 else {}
        for r in range(len(ctx.missing)):
            loc, glo = local_rows.get(r), global_rows.get(r)
            parts = [(loc, 1.0 - w_global), (glo, w_global)] if loc and glo else [(loc or glo, 1.0)]
            for part, scale in parts:
                for col, val in (part or {}).items():
                    entries[(r, col)] = entries.get((r, col), 0.0) + scale * val
        if not entries:
            index, values = torch.zeros(2, 0, dtype=torch.long), torch.zeros(0)
        else:
            index, values = torch.tensor(list(entries), dtype=torch.long).T, torch.tensor(list(entries.values()))
        return torch.sparse_coo_tensor(index, values, self._shape(ctx), check_invariants=True)

    def _dim(self) -> int:
        assert self.encoder is not None
        return int(self.encoder.model.config.hidden_size)

    @staticmethod
    def _shape(ctx: TransplantContext) -> tuple[int, int]:
        return (len(ctx.missing), ctx.num_old_rows)

    def _local(
        self, ctx: TransplantContext, phi_old: torch.Tensor, phi_new: torch.Tensor, has_phi: torch.Tensor
    ) -> dict[int, dict[int, float]]:
        temp = float(self.config.temperature)
        out: dict[int, dict[int, float]] = {}
        for r, ids in enumerate(ctx.decompositions()):
            if not ids:
                continue
            full_len = max(len(ctx.new_vocab.surfaces[ctx.missing[r]] or b""), 1)
            lengths = torch.tensor([len(ctx.old_vocab.surfaces[i] or b"") / full_len for i in ids])
            if bool(has_phi[r]):
                semantic = torch.softmax((phi_old[ids] @ phi_new[r]) / temp, dim=0)
            else:  # not embedded (max_aux_tokens): uniform semantic weights
                semantic = torch.full((len(ids),), 1.0 / len(ids))
            weights = torch.softmax(((semantic + lengths) / 2.0) / temp, dim=0)
            row: dict[int, float] = {}
            for i, w in zip(ids, weights.tolist()):
                row[i] = row.get(i, 0.0) + w
            out[r] = row
        return out

    def _global(
        self, phi_old: torch.Tensor, phi_new: torch.Tensor, has_phi: torch.Tensor, old_ok: list[int]
    ) -> dict[int, dict[int, float]]:
        cfg = self.config
        candidates = torch.tensor(old_ok, dtype=torch.long)
        index = phi_old[candidates]
        k = min(cfg.top_k, len(old_ok))
        rows = has_phi.nonzero().flatten().tolist()
        out: dict[int, dict[int, float]] = {}
        for start in range(0, len(rows), 1024):
            chunk = rows[start : start + 1024]
            sims, pos = (phi_new[chunk] @ index.T).topk(k, dim=1)
            for r, s, p in zip(chunk, sims, pos):
                keep = s >= cfg.similarity_threshold
                if not bool(keep.any()):
                    continue
                s, p = s[keep], p[keep]
                w = torch.softmax(s / cfg.temperature, dim=0) if s.numel() > 1 else torch.ones(1)
                out[r] = {int(candidates[j]): float(v) for j, v in zip(p.tolist(), w.tolist())}
        return out
