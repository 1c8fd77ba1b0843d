"""PoNet (Tan et al., ICLR 2022, arXiv 2110.02442): a BERT-style encoder with multi-granularity pooling token mixing.

Each layer replaces self-attention by :class:`PoNetMixer`, linear in the sequence length ``L``, per head:

* global aggregation (GA): ``g = mean_i q_i`` over the real tokens, then one query's attention over the sequence,
  ``g' = sum_i softmax_i(g . k_i / sqrt(d)) k_i`` (one ``[L]`` score vector per head, not ``[L, L]``);
* segment max-pooling (SMP): ``s_i = max_{j in seg(i)} (W_s h)_j`` over fixed-size segments;
* local max-pooling (LMP): ``l_i = max_{|j - i| <= w // 2} (W_l h)_j`` (a sliding window, ``w = 3``);
* pooling fusion (PF): ``o_i = (g' + s_i) * (W_o h)_i + l_i`` (element-wise), then the output projection, residual
  and LayerNorm as in BERT, and BERT's feed-forward block.

Padding tokens are excluded from the mean, the attention and both max-poolings, and their outputs are zero.

Deviations from the paper, all following its official code's choices or this machine's: the GA value is the key
projection (the official code shares them); segments are fixed ``segment_size`` token spans instead of sentences
(no sentence splitter is assumed); the pre-training heads are MLM only (no sentence-structural objective). The
classes here import nothing from ``hf_tokens`` so a folder exported with ``export_modeling_code`` runs without it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import (
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    SequenceClassifierOutput,
)

from hf_tokens.models.ponet.configuration import PoNetConfig


def segment_max(x: torch.Tensor, segment_size: int) -> torch.Tensor:
    """``[B, L, C]`` -> each token gets the max over its segment of ``segment_size`` tokens (last one may be short)."""
    batch, length, channels = x.shape
    pad = (-length) % segment_size
    if pad:
        x = F.pad(x, (0, 0, 0, pad), value=torch.finfo(x.dtype).min)
    pooled = x.view(batch, -1, segment_size, channels).amax(dim=2)
    return pooled.repeat_interleave(segment_size, dim=1)[:, :length]


def local_max(x: torch.Tensor, window: int) -> torch.Tensor:
    """``[B, L, C]`` -> the max over a centred window of ``window`` tokens (stride 1, no wrap-around)."""
    return F.max_pool1d(x.transpose(1, 2), window, stride=1, padding=window // 2).transpose(1, 2)


class PoNetMixer(nn.Module):
    """Multi-granularity pooling token mixing (GA + SMP + LMP with pooling fusion); O(L) time and memory."""

    def __init__(self, config: PoNetConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.heads = config.num_attention_heads
        self.head_dim = hidden // self.heads
        self.segment_size = config.segment_size
        self.local_window = config.local_window
        self.dense_q = nn.Linear(hidden, hidden)
        self.dense_k = nn.Linear(hidden, hidden)
        self.dense_o = nn.Linear(hidden, hidden)
        self.dense_segment = nn.Linear(hidden, hidden)
        self.dense_local = nn.Linear(hidden, hidden)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:2], self.heads, self.head_dim)

    def forward(self, hidden: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """``hidden`` ``[B, L, C]``, ``real`` bool ``[B, L]`` (False = padding) -> mixed ``[B, L, C]``."""
        q, k, o = (
            self._split(self.dense_q(hidden)),
            self._split(self.dense_k(hidden)),
            self._split(self.dense_o(hidden)),
        )
        keep = real[:, :, None, None].to(q.dtype)
        g = (q * keep).sum(1) / keep.sum(1).clamp_min(1.0)  # [B, H, D]: mean of the real queries
        scores = torch.einsum("bhd,blhd->bhl", g, k) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~real[:, None, :], torch.finfo(scores.dtype).min)
        g_prime = torch.einsum("bhl,blhd->bhd", scores.softmax(-1), k)  # GA: [B, H, D]
        hidden_pad = ~real[:, :, None]
        low = torch.finfo(hidden.dtype).min
        seg = segment_max(self.dense_segment(hidden).masked_fill(hidden_pad, low), self.segment_size)
        loc = local_max(self.dense_local(hidden).masked_fill(hidden_pad, low), self.local_window)
        mixed = (g_prime[:, None] + self._split(seg)) * o + self._split(loc)  # pooling fusion
        return mixed.flatten(2).masked_fill(hidden_pad, 0.0)


class PoNetLayer(nn.Module):
    """Token mixing + BERT's residual/LayerNorm and feed-forward block (post-norm)."""

    def __init__(self, config: PoNetConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.mixer = PoNetMixer(config)
        self.mix_out = nn.Linear(hidden, hidden)
        self.mix_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(hidden, config.intermediate_size)
        self.ffn_out = nn.Linear(config.intermediate_size, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.act = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        hidden = self.mix_norm(hidden + self.dropout(self.mix_out(self.mixer(hidden, real))))
        return self.ffn_norm(hidden + self.dropout(self.ffn_out(self.act(self.ffn_in(hidden)))))


class PoNetPreTrainedModel(PreTrainedModel):
    config_class = PoNetConfig
    config: PoNetConfig
    base_model_prefix = "ponet"
    supports_gradient_checkpointing = False
    _no_split_modules = ["PoNetLayer"]


class PoNetModel(PoNetPreTrainedModel):
    """The PoNet encoder: embeddings (word + position + token type), pooling layers, and a ``[CLS]`` pooler."""

    def __init__(self, config: PoNetConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        hidden = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, hidden, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, hidden)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, hidden)
        self.embed_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layers = nn.ModuleList(PoNetLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = nn.Linear(hidden, hidden) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        if not isinstance(value, nn.Embedding):
            raise TypeError(f"PoNet's input embeddings must be an nn.Embedding, got {type(value).__name__}")
        self.word_embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPooling:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        embeds = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        length = embeds.shape[1]
        if length > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence length {length} exceeds max_position_embeddings={self.config.max_position_embeddings}"
            )
        positions = torch.arange(length, device=embeds.device)[None]
        types = torch.zeros_like(positions) if token_type_ids is None else token_type_ids
        hidden = embeds + self.position_embeddings(positions) + self.token_type_embeddings(types)
        hidden = self.dropout(self.embed_norm(hidden))
        if attention_mask is None:
            real = torch.ones(embeds.shape[:2], dtype=torch.bool, device=embeds.device)
        else:
            real = attention_mask.bool()
        for layer in self.layers:
            hidden = layer(hidden, real)
        pooled = torch.tanh(self.pooler(hidden[:, 0])) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)


class PoNetForMaskedLM(PoNetPreTrainedModel):
    """PoNet with BERT's MLM head (transform + decoder tied to the word embeddings)."""

    _tied_weights_keys = {"decoder.weight": "ponet.word_embeddings.weight"}

    def __init__(self, config: PoNetConfig) -> None:
        super().__init__(config)
        self.ponet = PoNetModel(config, add_pooling_layer=False)
        self.transform = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.act = ACT2FN[config.hidden_act]
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.decoder = new_embeddings

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> MaskedLMOutput:
        hidden = self.ponet(input_ids, attention_mask, token_type_ids, inputs_embeds).last_hidden_state
        logits = self.decoder(self.transform_norm(self.act(self.transform(hidden))))
        loss = None
        if labels is not None:  # -100 = not a masked position
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=None)


class PoNetForSequenceClassification(PoNetPreTrainedModel):
    """PoNet with a classifier on the pooled ``[CLS]`` (first-token) state; ``labels`` give cross-entropy, or MSE
    when ``num_labels == 1``."""

    def __init__(self, config: PoNetConfig) -> None:
        super().__init__(config)
        self.ponet = PoNetModel(config)
        drop = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(drop)
        self.classifier = nn.Linear(config.hidden_size, int(config.num_labels or 2))
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        pooled = self.ponet(input_ids, attention_mask, token_type_ids, inputs_embeds).pooler_output
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            if self.config.num_labels == 1:
                loss = F.mse_loss(logits.squeeze(-1).float(), labels.float())
            else:
                loss = F.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def register_ponet() -> None:
    """Register PoNet with ``AutoConfig``, ``AutoModel``, ``AutoModelForMaskedLM`` and
    ``AutoModelForSequenceClassification`` (idempotent)."""
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

    AutoConfig.register(PoNetConfig.model_type, PoNetConfig, exist_ok=True)
    AutoModel.register(PoNetConfig, PoNetModel, exist_ok=True)
    AutoModelForMaskedLM.register(PoNetConfig, PoNetForMaskedLM, exist_ok=True)
    AutoModelForSequenceClassification.register(PoNetConfig, PoNetForSequenceClassification, exist_ok=True)
