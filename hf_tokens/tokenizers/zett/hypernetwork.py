"""The ZeTT embedding hypernetwork (Minixhofer et al., 2024, "Zero-Shot Tokenizer Transfer", arXiv:2405.07883).

A new token ``t`` is decomposed into pieces of the ORIGINAL tokenizer (``T_a(t)``); the pieces are embedded with the
base model's own (frozen) embeddings, run through a small transformer encoder, and the hidden state of the first
position is projected to the new token's input and output embeddings (one embedding for tied models). For untied
models the input and output embeddings of each piece are concatenated, as in the paper.

Deviations, by design: the two output projections are added to the mean of the pieces' embeddings and start at zero,
so an untrained hypernetwork is exactly mean initialisation (the paper's hypernetwork predicts the embedding directly
and is warmed up to reproduce the source embeddings); decompositions are truncated to ``max_pieces`` pieces; the
encoder is ``torch.nn.TransformerEncoder`` (pre-norm) rather than the paper's RoBERTa layers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel


class ZettHypernetConfig(PretrainedConfig):
    """Architecture of a :class:`ZettHypernetwork` and the base model it belongs to.

    ``base_model`` (name or path), ``source_vocab_size`` (rows of its embedding matrix), ``embedding_dim`` (its
    hidden size), ``tied_embeddings`` and ``source_vocab_fingerprint`` (of its tokenizer) identify the base model; a
    transplant checks them so a hypernetwork trained for another model is rejected.
    """

    model_type = "zett_hypernetwork"

    def __init__(
        self,
        base_model: str = "",
        source_vocab_size: int = 0,
        embedding_dim: int = 0,
        tied_embeddings: bool = True,
        source_vocab_fingerprint: str = "",
        base_dtype: str = "float32",
        hidden_size: int = 256,
        num_layers: int = 3,
        num_heads: int = 4,
        intermediate_size: int = 512,
        max_pieces: int = 8,
        **kwargs: Any,
    ) -> None:
        for name, value in (
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("intermediate_size", intermediate_size),
            ("max_pieces", max_pieces),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        if base_dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"base_dtype must be float32, float16 or bfloat16, got {base_dtype!r}")
        self.base_model = base_model
        self.source_vocab_size = source_vocab_size
        self.embedding_dim = embedding_dim
        self.tied_embeddings = tied_embeddings
        self.source_vocab_fingerprint = source_vocab_fingerprint
        self.base_dtype = base_dtype
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.max_pieces = max_pieces
        super().__init__(**kwargs)


class ZettHypernetwork(PreTrainedModel):
    """``predict(decompositions) -> (input_embeddings [n, d], output_embeddings [n, d])``; see the module doc."""

    config_class = ZettHypernetConfig
    base_model_prefix = "zett"
    main_input_name = "piece_ids"

    def __init__(self, config: ZettHypernetConfig) -> None:
        super().__init__(config)
        if config.source_vocab_size < 1 or config.embedding_dim < 1:
            raise ValueError("config must name the base model's source_vocab_size and embedding_dim (>= 1)")
        d, h = config.embedding_dim, config.hidden_size
        self.source_input = nn.Embedding(config.source_vocab_size, d)
        self.source_output = None if config.tied_embeddings else nn.Embedding(config.source_vocab_size, d)
        self.freeze_sources()
        src_dim = d if config.tied_embeddings else 2 * d
        self.in_proj = nn.Linear(src_dim, h)
        self.positions = nn.Embedding(config.max_pieces, h)
        layer = nn.TransformerEncoderLayer(
            h, config.num_heads, config.intermediate_size, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(h)
        self.head_input = nn.Linear(h, d)
        self.head_output = None if config.tied_embeddings else nn.Linear(h, d)
        self.post_init()

    def freeze_sources(self) -> None:
        """The base model's embeddings inside the hypernetwork are inputs, never trained (``from_pretrained`` hands
        back trainable parameters, so loading calls this again)."""
        for emb in (self.source_input, self.source_output):
            if emb is not None:
                emb.weight.requires_grad_(False)

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.head_input or module is self.head_output:
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif module is self.positions:
            nn.init.normal_(module.weight, std=0.02)

    @classmethod
    def for_model(cls, model: Any, tokenizer: Any, *, seed: int = 0, **architecture: Any) -> ZettHypernetwork:
        """A fresh hypernetwork for ``model`` (its embeddings copied in, frozen) and its ``tokenizer``."""
        from hf_tokens.tokenizers.transplantation import _check_model, _matrices
        from hf_tokens.tokenizers.vocab import surface_forms

        _check_model(model)
        mats, tied, _ = _matrices(model)
        dtype = str(mats[0].dtype).removeprefix("torch.")
        config = ZettHypernetConfig(
            base_model=str(getattr(model.config, "name_or_path", "") or ""),
            source_vocab_size=int(mats[0].shape[0]),
            embedding_dim=int(mats[0].shape[1]),
            tied_embeddings=tied,
            source_vocab_fingerprint=surface_forms(tokenizer, argument="tokenizer").fingerprint(),
            base_dtype=dtype,
            **architecture,
        )
        torch.manual_seed(seed)
        net = cls(config)
        with torch.no_grad():
            net.source_input.weight.copy_(mats[0].detach().float().cpu())
            if net.source_output is not None:
                net.source_output.weight.copy_(mats[1].detach().float().cpu())
        return net.eval()

    def pad(self, decompositions: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Piece ids ``[n, L]`` (truncated to ``max_pieces``) and a validity mask; empty decompositions are errors."""
        if not isinstance(decompositions, (list, tuple)):
            raise TypeError(f"decompositions must be a list of lists of ids, got {type(decompositions).__name__}")
        width = max((min(len(d), self.config.max_pieces) for d in decompositions), default=1)
        ids = torch.zeros(len(decompositions), max(width, 1), dtype=torch.long)
        mask = torch.zeros_like(ids, dtype=torch.bool)
        for r, pieces in enumerate(decompositions):
            if len(pieces) == 0:
                raise ValueError(f"decompositions[{r}] is empty: every new token needs at least one original piece")
            pieces = list(pieces)[: self.config.max_pieces]
            if min(pieces) < 0 or max(pieces) >= self.config.source_vocab_size:
                raise ValueError(
                    f"decompositions[{r}] has ids outside the base vocabulary [0, {self.config.source_vocab_size})"
                )
            ids[r, : len(pieces)] = torch.tensor(pieces)
            mask[r, : len(pieces)] = True
        return ids, mask

    def forward(self, piece_ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings (fp32) for padded ``piece_ids`` ``[n, L]`` with boolean ``mask`` (True = a real piece)."""
        x_in = self.source_input(piece_ids)
        x_out = self.source_output(piece_ids) if self.source_output is not None else x_in
        weights = (mask.float() / mask.sum(1, keepdim=True).clamp(min=1)).unsqueeze(-1)
        mean_in, mean_out = (x_in * weights).sum(1), (x_out * weights).sum(1)
        src = x_in if self.source_output is None else torch.cat([x_in, x_out], dim=-1)
        pos = torch.arange(piece_ids.shape[1], device=piece_ids.device)
        hidden = self.encoder(self.in_proj(src) + self.positions(pos), src_key_padding_mask=~mask)
        first = self.norm(hidden[:, 0])
        emb_in = mean_in + self.head_input(first)
        emb_out = emb_in if self.head_output is None else mean_out + self.head_output(first)
        return emb_in, emb_out

    def predict(self, decompositions: list[list[int]], *, batch_size: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
        """Input and output embeddings ``[n, d]`` (base-model dtype) of tokens given by their original-piece ids.

        No gradient unless the hypernetwork is in training mode (``train()``) and grad is enabled.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        ids, mask = self.pad(decompositions)
        device = self.source_input.weight.device
        dtype = getattr(torch, self.config.base_dtype)
        ins, outs = [], []
        with torch.set_grad_enabled(self.training and torch.is_grad_enabled()):
            for start in range(0, len(decompositions), batch_size):
                sl = slice(start, start + batch_size)
                emb_in, emb_out = self(ids[sl].to(device), mask[sl].to(device))
                ins.append(emb_in)
                outs.append(emb_out)
        d = self.config.embedding_dim
        emb_in = torch.cat(ins).to(dtype) if ins else torch.zeros(0, d, dtype=dtype)
        emb_out = torch.cat(outs).to(dtype) if outs else torch.zeros(0, d, dtype=dtype)
        return emb_in, emb_out


def load_hypernetwork(path: Any) -> ZettHypernetwork:
    """A :class:`ZettHypernetwork` saved with ``save_pretrained`` (or ``save_for_hub``), in eval mode."""
    from pathlib import Path

    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    if not (Path(path) / "config.json").is_file():
        raise ValueError(f"path {str(path)!r} holds no saved hypernetwork (config.json missing)")
    net = ZettHypernetwork.from_pretrained(path)
    if not isinstance(net, ZettHypernetwork):
        raise ValueError(f"{path} is not a ZeTT hypernetwork")
    net.freeze_sources()
    return net.eval()
