"""Start a masked diffusion LM from a pretrained autoregressive Llama-shaped model (AR-to-diffusion adaptation).

Dream 7B (Ye et al., arXiv:2508.15487) and DiffuLLaMA (Gong et al., arXiv:2410.17891) do not pre-train diffusion LMs
from scratch: they copy a pretrained autoregressive model's weights, switch the attention to bidirectional and keep
the AR head's alignment by **shifting** the prediction: token ``i`` is predicted from hidden state ``i-1``, as the AR
model did (``config.shift_logits``). The masked diffusion loss then adapts the copy. FlashDLM (the paper of
:mod:`.sampling`) evaluates exactly such models (Dream 7B, LLaDA 8B). Here the same recipe turns SmolLM2-135M into a
135M diffusion LM that can be adapted on this CPU, instead of a tiny model trained from nothing.

What is copied: embeddings (tied with the output projection), every layer's RMSNorms, q/k/v/o projections (grouped
key/value heads kept), SwiGLU MLP, the final norm, ``rope_theta``. What is new: one vocabulary row for the mask token
(initialised to the mean embedding). Deviation from Dream (named): no attention-mask annealing (DiffuLLaMA's) and no
special tokens besides the mask; the AR model's positional range is capped at ``max_position_embeddings``.
"""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.models.diffusion_lm.modeling import DiffusionLMConfig, DiffusionLMForMaskedLM

_LAYER_PARTS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj")


def _rope_theta(config: Any) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    if params.get("rope_type", "default") != "default":
        raise ValueError(f"only default rotary positions can be copied, the model uses {params['rope_type']!r}")
    theta = params.get("rope_theta", getattr(config, "rope_theta", None))
    if theta is None:
        raise ValueError("the model's config names no rope_theta")
    return float(theta)


def _check_llama_shaped(model: Any) -> None:
    body = getattr(model, "model", None)
    layers = getattr(body, "layers", None)
    if layers is None or getattr(body, "embed_tokens", None) is None or getattr(body, "norm", None) is None:
        raise ValueError(
            f"causal_lm must be a Llama-shaped causal LM (model.embed_tokens, model.layers, model.norm); got "
            f"{type(model).__name__}"
        )
    for part in _LAYER_PARTS:
        module = layers[0].get_submodule(part)
        if getattr(module, "bias", None) is not None:
            raise ValueError(f"causal_lm has a bias in {part}; the diffusion LM's projections have none")
    if getattr(model.config, "hidden_act", "silu") != "silu":
        raise ValueError(f"causal_lm uses {model.config.hidden_act!r}; the diffusion LM's MLP is SwiGLU (silu)")
    head = model.get_output_embeddings()
    if head is not None and not torch.equal(head.weight, body.embed_tokens.weight):
        raise ValueError("causal_lm has an output head separate from its embeddings; only tied models are supported")


@torch.no_grad()
def diffusion_lm_from_causal_lm(
    causal_lm: Any, *, mask_token_id: int | None = None, max_position_embeddings: int = 2048
) -> DiffusionLMForMaskedLM:
    """A :class:`DiffusionLMForMaskedLM` with ``causal_lm``'s weights, bidirectional attention and shifted logits.

    ``mask_token_id`` defaults to a new id after the AR vocabulary (SmolLM2: 49152, what
    :func:`.train.tokenizer_with_mask` adds); an id inside the vocabulary reuses that row as the mask.
    """
    _check_llama_shaped(causal_lm)
    src = causal_lm.config
    vocab = causal_lm.model.embed_tokens.weight.shape[0]
    mask_id = vocab if mask_token_id is None else mask_token_id
    if not isinstance(mask_id, int) or isinstance(mask_id, bool) or not 0 <= mask_id <= vocab:
        raise ValueError(f"mask_token_id must be an int in [0, {vocab}] (the AR vocabulary or one new id)")
    if not isinstance(max_position_embeddings, int) or max_position_embeddings < 1:
        raise ValueError(f"max_position_embeddings must be a positive int, got {max_position_embeddings!r}")
    if getattr(src, "head_dim", None) not in (None, src.hidden_size // src.num_attention_heads):
        raise ValueError("causal_lm's head_dim differs from hidden_size / num_attention_heads; not supported")
    config = DiffusionLMConfig(
        vocab_size=max(vocab, mask_id + 1),
        hidden_size=src.hidden_size,
        intermediate_size=src.intermediate_size,
        num_hidden_layers=src.num_hidden_layers,
        num_attention_heads=src.num_attention_heads,
        num_key_value_heads=getattr(src, "num_key_value_heads", None) or src.num_attention_heads,
        max_position_embeddings=min(max_position_embeddings, getattr(src, "max_position_embeddings", 1 << 30)),
        rope_theta=_rope_theta(src),
        rms_norm_eps=float(src.rms_norm_eps),
        mask_token_id=mask_id,
        shift_logits=True,
        eos_token_id=getattr(src, "eos_token_id", None),
        pad_token_id=getattr(src, "pad_token_id", None),
    )
    dlm = DiffusionLMForMaskedLM(config).to(causal_lm.model.embed_tokens.weight.dtype)
    embed = causal_lm.model.embed_tokens.weight
    dlm.embed_tokens.weight[:vocab] = embed
    if mask_id == vocab:
        dlm.embed_tokens.weight[vocab] = embed.mean(0)
    for ours, theirs in zip(dlm.layers, causal_lm.model.layers):
        attn, mlp = theirs.self_attn, theirs.mlp
        ours.attn_norm.weight.copy_(theirs.input_layernorm.weight)
        ours.mlp_norm.weight.copy_(theirs.post_attention_layernorm.weight)
        ours.qkv.weight.copy_(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]))
        ours.o_proj.weight.copy_(attn.o_proj.weight)
        ours.gate_up.weight.copy_(torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]))
        ours.down.weight.copy_(mlp.down_proj.weight)
    dlm.norm.weight.copy_(causal_lm.model.norm.weight)
    return dlm.eval()
