"""A small LLaDA-style masked diffusion language model (Nie et al., arXiv:2502.09992) as a Hugging Face model class.

Architecture: a Llama-shaped transformer (RMSNorm, rotary positions, SwiGLU) with **bidirectional** attention (no
causal mask), token embeddings tied with the output projection, and one extra vocabulary entry, the mask token
(``config.mask_token_id``; SmolLM2's 49152 ids + ``<|mdm_mask|>`` = 49153 by default).

Training (:func:`masked_diffusion_loss`, LLaDA's pre-training objective): per sequence a ratio ``t ~ U(eps, 1)``,
each token masked independently with probability ``t``, cross-entropy on the masked tokens only, weighted ``1/t``,
summed and divided by the number of tokens. Generation (:meth:`DiffusionLMForMaskedLM.generate`, see
:mod:`.sampling`): the answer starts fully masked and is unmasked block by block (semi-autoregressive blocks, LLaDA's
low-confidence remasking: each step commits the most confident predictions of the current block).

The forward can also run only some positions (``active``) against keys/values of the other positions taken from a
frozen per-layer cache (``kv``): FreeCache's approximation (see :mod:`.sampling`). With a cache computed from the same
sequence the result equals the full forward up to float rounding (tested).

Deviations (named): rotary positions and SwiGLU as in LLaDA (a Llama-like backbone) but small (default 4 layers of
256), or a copy of SmolLM2-135M adapted to diffusion (:mod:`.convert`: grouped key/value heads,
``config.shift_logits`` as in Dream 7B); the mask token is a new vocabulary row appended after SmolLM2's vocabulary;
the denoiser never predicts the mask token (its logit is -inf in generation).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForMaskedLM, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput

from hf_tokens.models.diffusion_lm.sampling import diffusion_generate

KV = list[tuple[torch.Tensor, torch.Tensor]]


class DiffusionLMConfig(PretrainedConfig):
    """A bidirectional transformer trained as a masked diffusion LM (LLaDA, arXiv:2502.09992)."""

    model_type = "hf_tokens_diffusion_lm"

    def __init__(
        self,
        vocab_size: int = 49153,
        hidden_size: int = 256,
        intermediate_size: int = 768,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        max_position_embeddings: int = 512,
        rope_theta: float = 10000.0,
        rms_norm_eps: float = 1e-5,
        mask_token_id: int | None = 49152,
        initializer_range: float = 0.02,
        num_key_value_heads: int | None = None,
        shift_logits: bool = False,
        **kwargs: Any,
    ) -> None:
        num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        for name, value in (
            ("vocab_size", vocab_size),
            ("hidden_size", hidden_size),
            ("intermediate_size", intermediate_size),
            ("num_hidden_layers", num_hidden_layers),
            ("num_attention_heads", num_attention_heads),
            ("max_position_embeddings", max_position_embeddings),
            ("num_key_value_heads", num_key_value_heads),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if hidden_size % num_attention_heads or (hidden_size // num_attention_heads) % 2:
            raise ValueError("hidden_size must be a multiple of num_attention_heads with an even head dimension")
        if num_attention_heads % num_key_value_heads:
            raise ValueError(
                f"num_attention_heads ({num_attention_heads}) must be a multiple of num_key_value_heads "
                f"({num_key_value_heads})"
            )
        if not isinstance(shift_logits, bool):
            raise TypeError(f"shift_logits must be a bool, got {shift_logits!r}")
        if mask_token_id is not None and not (isinstance(mask_token_id, int) and 0 <= mask_token_id < vocab_size):
            raise ValueError(f"mask_token_id must be an int in [0, vocab_size={vocab_size}), got {mask_token_id!r}")
        self.vocab_size, self.hidden_size, self.intermediate_size = vocab_size, hidden_size, intermediate_size
        self.num_hidden_layers, self.num_attention_heads = num_hidden_layers, num_attention_heads
        self.max_position_embeddings, self.rope_theta, self.rms_norm_eps = (
            max_position_embeddings,
            rope_theta,
            rms_norm_eps,
        )
        self.mask_token_id, self.initializer_range = mask_token_id, initializer_range
        self.num_key_value_heads, self.shift_logits = num_key_value_heads, shift_logits
        kwargs["tie_word_embeddings"] = False  # the output projection reuses embed_tokens.weight directly
        super().__init__(**kwargs)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-b, a], dim=-1) * sin


class _Block(nn.Module):
    def __init__(self, config: DiffusionLMConfig) -> None:
        super().__init__()
        d, self.heads, self.kv_heads = config.hidden_size, config.num_attention_heads, config.num_key_value_heads
        self.head_dim = d // self.heads
        self.attn_norm = nn.RMSNorm(d, eps=config.rms_norm_eps)
        self.qkv = nn.Linear(d, (self.heads + 2 * self.kv_heads) * self.head_dim, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.mlp_norm = nn.RMSNorm(d, eps=config.rms_norm_eps)
        self.gate_up = nn.Linear(d, 2 * config.intermediate_size, bias=False)
        self.down = nn.Linear(config.intermediate_size, d, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        key_mask: torch.Tensor | None,
        frozen: tuple[torch.Tensor, torch.Tensor] | None,
        active: torch.Tensor | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, A, d = x.shape
        heads = (self.heads, self.kv_heads, self.kv_heads)
        q, k, v = (
            t.view(B, A, n, self.head_dim).transpose(1, 2)
            for t, n in zip(self.qkv(self.attn_norm(x)).split([n * self.head_dim for n in heads], -1), heads)
        )
        q, k = _rotate(q, *rope), _rotate(k, *rope)
        if frozen is not None and active is not None:  # FreeCache: fresh k/v at the active positions only
            k_all, v_all = frozen[0].clone(), frozen[1].clone()
            k_all[:, :, active], v_all[:, :, active] = k, v
        else:
            k_all, v_all = k, v
        gqa = self.heads != self.kv_heads  # grouped-query attention (SmolLM2: 9 query heads, 3 key/value heads)
        att = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=key_mask, enable_gqa=gqa)
        x = x + self.o_proj(att.transpose(1, 2).reshape(B, A, d))
        gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up), (k_all, v_all)


class DiffusionLMForMaskedLM(PreTrainedModel):
    """Masked diffusion LM (LLaDA, arXiv:2502.09992): bidirectional transformer + iterative-unmasking ``generate``."""

    config_class = DiffusionLMConfig
    base_model_prefix = "diffusion_lm"
    main_input_name = "input_ids"
    _no_split_modules = ["_Block"]

    def __init__(self, config: DiffusionLMConfig) -> None:
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(_Block(config) for _ in range(config.num_hidden_layers))
        self.norm = nn.RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
        elif isinstance(module, nn.RMSNorm):
            nn.init.ones_(module.weight)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def _rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dim = self.config.hidden_size // self.config.num_attention_heads
        inv = self.config.rope_theta ** (-torch.arange(0, dim, 2, device=positions.device).float() / dim)
        ang = positions.float()[:, None] * inv[None]
        ang = torch.cat([ang, ang], dim=-1)
        return ang.cos().to(self.embed_tokens.weight.dtype), ang.sin().to(self.embed_tokens.weight.dtype)

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        active: torch.Tensor | None = None,
        kv: KV | None = None,
    ) -> tuple[torch.Tensor, KV]:
        """Final hidden states (of every position, or of ``active`` positions when ``kv`` is given) and the per-layer
        keys/values of every position. ``kv`` (from an earlier call) freezes the keys/values of the non-active
        positions: only ``active`` positions are recomputed (FreeCache)."""
        T = input_ids.shape[1]
        if self.config.max_position_embeddings < T:
            raise ValueError(
                f"sequence length {T} exceeds max_position_embeddings={self.config.max_position_embeddings}"
            )
        if (kv is None) != (active is None):
            raise ValueError("active and kv go together: pass both (cached forward) or neither (full forward)")
        positions = torch.arange(T, device=input_ids.device)
        ids = input_ids if active is None else input_ids[:, active]
        rope = self._rope(positions if active is None else positions[active])
        key_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            key_mask = attention_mask.bool()[:, None, None, :]
        x = self.embed_tokens(ids)
        new_kv: KV = []
        for i, layer in enumerate(self.layers):
            x, layer_kv = layer(x, rope, key_mask, None if kv is None else kv[i], active)
            new_kv.append(layer_kv)
        return self.norm(x), new_kv

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits over the vocabulary (the output projection is the tied embedding matrix)."""
        return F.linear(hidden, self.embed_tokens.weight)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> MaskedLMOutput:
        """Logits at every position. With ``labels`` (``-100`` where not scored), the mean cross-entropy over the
        scored positions (for a ``1/t``-weighted LLaDA loss use :func:`masked_diffusion_loss`)."""
        hidden, _ = self.hidden(input_ids, attention_mask)
        logits = self.project(hidden)
        if self.config.shift_logits:  # position i's prediction comes from hidden state i-1 (position 0 repeats it)
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        """Iterative unmasking; see :func:`hf_tokens.models.diffusion_lm.sampling.diffusion_generate` for the
        arguments (``max_new_tokens``, ``steps``, ``block_length``, ``freecache``, ``refresh_every``, ``guide``)."""
        return diffusion_generate(self, input_ids, **kwargs)[0]


def masked_diffusion_loss(
    model: DiffusionLMForMaskedLM,
    input_ids: torch.Tensor,
    *,
    eps: float = 1e-3,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """LLaDA's pre-training loss on clean ``input_ids[B, L]``: ``-E_t[1/t * sum_{masked i} log p(x_i | x_t)] / L``
    with ``t ~ U(eps, 1)`` per row and every token masked independently with probability ``t``. With
    ``config.shift_logits`` (Dream's shifted prediction) the first token is never masked and token ``i`` is scored
    from hidden state ``i-1``."""
    mask_id = model.config.mask_token_id
    if mask_id is None:
        raise ValueError("the model's config has no mask_token_id; a masked diffusion LM needs one")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    B, L = input_ids.shape
    device = input_ids.device
    t = eps + (1 - eps) * torch.rand(B, 1, generator=generator).to(device)
    masked = torch.rand(B, L, generator=generator).to(device) < t
    shift = int(model.config.shift_logits)
    masked[:, :shift] = False  # shifted models read token i from hidden state i-1: position 0 stays clean
    noisy = torch.where(masked, torch.full_like(input_ids, mask_id), input_ids)
    hidden, _ = model.hidden(noisy)
    scored = masked[:, shift:]
    logits = model.project(hidden[:, : L - shift][scored]).float()  # only the masked positions are scored
    nll = F.cross_entropy(logits, input_ids[:, shift:][scored], reduction="none")
    weights = (1.0 / t).expand(B, L - shift)[scored]
    return (nll * weights).sum() / (B * L) if nll.numel() else logits.sum() * 0.0


AutoConfig.register(DiffusionLMConfig.model_type, DiffusionLMConfig, exist_ok=True)
AutoModelForMaskedLM.register(DiffusionLMConfig, DiffusionLMForMaskedLM, exist_ok=True)

TINY: dict[str, Any] = {
    "vocab_size": 97,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 64,
    "mask_token_id": 96,
}


def contract() -> dict[str, Any]:
    def make_inputs(config: Any) -> dict[str, torch.Tensor]:
        ids = torch.randint(0, config.vocab_size - 1, (2, 9), generator=torch.Generator().manual_seed(3))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    return {
        "config_cls": DiffusionLMConfig,
        "model_cls": DiffusionLMForMaskedLM,
        "auto_class": "AutoModelForMaskedLM",
        # grouped key/value heads and shifted logits: the variant adapted from AR models (.convert) is the harder one
        "make_config": lambda: DiffusionLMConfig(**TINY, num_key_value_heads=2, shift_logits=True),
        "make_inputs": make_inputs,
        "generative": "custom",
        "generate_kwargs": {"block_length": 3, "steps": 4},
    }
