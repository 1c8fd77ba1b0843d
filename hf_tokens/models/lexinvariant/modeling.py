"""Lexinvariant language model (Huang et al., arXiv:2305.16349): no fixed token embeddings.

Each sequence gets its own random Gaussian embedding matrix ``E ~ N(0, 1/d)^{V x d}``: a token is embedded as its row
of ``E`` (the same token -> the same vector everywhere in the sequence; other sequences draw other matrices), a Llama
backbone runs on those vectors, and next-token logits are ``logit_scale * h E^T`` (the output side uses the same
random matrix, so the model can only tell tokens apart by how they co-occur in context). The model cannot memorise
what a token means; it must infer it in context, which is why its gap to a standard LM shrinks with context length
and why it can decipher substitution ciphers in context.

Which matrix a row gets: ``embedding_seed`` (an int or one per row) when given; in training mode fresh seeds from
torch's global generator at every call (the paper's resampling per sequence); in eval mode ``config.embedding_seed +
row`` (so evaluation, ``generate`` and save/load are deterministic). ``embeddings=`` passes a ``[B, V, d]`` matrix
directly. Deviation (named): a learned scalar logit scale on the tied random output matrix.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, LlamaConfig, LlamaModel, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

_OUTPUT_FIELDS = {f.name for f in dataclasses.fields(CausalLMOutputWithPast)}


class LexinvariantConfig(LlamaConfig):
    """A Llama backbone without token embeddings (Lexinvariant Language Models, arXiv:2305.16349)."""

    model_type = "hf_tokens_lexinvariant"

    def __init__(self, embedding_seed: int = 0, **kwargs: Any) -> None:
        if not isinstance(embedding_seed, int) or embedding_seed < 0:
            raise ValueError(f"embedding_seed must be an int >= 0, got {embedding_seed!r}")
        self.embedding_seed = embedding_seed
        kwargs["tie_word_embeddings"] = False
        super().__init__(**kwargs)
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ValueError(f"vocab_size must be an int >= 2, got {self.vocab_size!r}")


def random_embeddings(seeds: list[int], vocab_size: int, dim: int) -> torch.Tensor:
    """``[len(seeds), vocab_size, dim]`` Gaussian matrices with std ``1/sqrt(dim)``, one per seed (reproducible)."""
    out = torch.empty(len(seeds), vocab_size, dim)
    for i, seed in enumerate(seeds):
        out[i] = torch.randn(vocab_size, dim, generator=torch.Generator().manual_seed(int(seed))) / dim**0.5
    return out


class LexinvariantForCausalLM(PreTrainedModel, GenerationMixin):
    """Causal LM whose token embeddings are redrawn per sequence (arXiv:2305.16349)."""

    config_class = LexinvariantConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _supports_sdpa = True
    _supports_attention_backend = True

    def __init__(self, config: LexinvariantConfig) -> None:
        super().__init__(config)
        self.model = LlamaModel(config)
        self.model.embed_tokens = None  # no fixed token embeddings: every sequence brings its own
        self.logit_scale = nn.Parameter(torch.ones(()))
        self.post_init()

    def get_input_embeddings(self) -> Any:
        return None

    def seeds_for(self, batch: int, embedding_seed: int | list[int] | torch.Tensor | None) -> list[int]:
        """The embedding seed of each row (see the module docstring)."""
        if embedding_seed is None:
            if self.training:
                return torch.randint(0, 2**62, (batch,)).tolist()
            return [self.config.embedding_seed + i for i in range(batch)]
        if isinstance(embedding_seed, int):
            return [embedding_seed] * batch
        seeds = torch.as_tensor(embedding_seed).flatten().tolist()
        if len(seeds) != batch:
            raise ValueError(f"embedding_seed must be an int or one seed per row ({batch}), got {len(seeds)}")
        return [int(s) for s in seeds]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        embedding_seed: int | list[int] | torch.Tensor | None = None,
        embeddings: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        B = input_ids.shape[0]
        if embeddings is None:
            seeds = self.seeds_for(B, embedding_seed)
            embeddings = random_embeddings(seeds, self.config.vocab_size, self.config.hidden_size)
        if embeddings.shape != (B, self.config.vocab_size, self.config.hidden_size):
            raise ValueError(
                f"embeddings must be [batch, vocab_size, hidden_size] = {(B, self.config.vocab_size)}, "
                f"{self.config.hidden_size}], got {tuple(embeddings.shape)}"
            )
        embeddings = embeddings.to(device=input_ids.device, dtype=self.logit_scale.dtype)
        inputs_embeds = embeddings[torch.arange(B, device=input_ids.device)[:, None], input_ids]
        kwargs.pop("inputs_embeds", None)
        out = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs)
        logits = self.logit_scale * torch.einsum("btd,bvd->btv", out.last_hidden_state, embeddings)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        cache_field = "cache" if "cache" in _OUTPUT_FIELDS else "past_key_values"  # renamed in transformers 5.25
        return CausalLMOutputWithPast(loss=loss, logits=logits, **{cache_field: getattr(out, cache_field)})


AutoConfig.register(LexinvariantConfig.model_type, LexinvariantConfig, exist_ok=True)
AutoModelForCausalLM.register(LexinvariantConfig, LexinvariantForCausalLM, exist_ok=True)

TINY: dict[str, Any] = {
    "vocab_size": 96,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    "bos_token_id": None,
    "eos_token_id": 0,
    "pad_token_id": 1,
}


def contract() -> dict[str, Any]:
    def make_inputs(config: Any) -> dict[str, torch.Tensor]:
        ids = torch.randint(2, config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(3))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    return {
        "config_cls": LexinvariantConfig,
        "model_cls": LexinvariantForCausalLM,
        "auto_class": "AutoModelForCausalLM",
        "make_config": lambda: LexinvariantConfig(**TINY),
        "make_inputs": make_inputs,
        "generative": True,
    }
