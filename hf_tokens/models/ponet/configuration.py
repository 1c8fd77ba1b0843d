"""Configuration of PoNet (Tan et al., "PoNet: Pooling Network for Efficient Token Mixing in Long Sequences",
ICLR 2022, arXiv 2110.02442): a BERT-style encoder whose self-attention is replaced by multi-granularity pooling."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class PoNetConfig(PretrainedConfig):
    """PoNet encoder settings (BERT's, plus the pooling granularities).

    ``segment_size``: tokens per segment of segment max-pooling (the paper pools over sentences; here fixed-size
    segments, the last one may be shorter); ``local_window``: the odd kernel of local (sliding) max-pooling (3 in the
    paper). Token mixing costs O(L * hidden) time and memory: no ``L x L`` matrix exists anywhere.
    """

    model_type = "ponet"

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        max_position_embeddings: int = 4096,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        segment_size: int = 32,
        local_window: int = 3,
        classifier_dropout: float | None = None,
        tie_word_embeddings: bool = True,
        pad_token_id: int | None = 0,
        **kwargs: Any,
    ) -> None:
        for name, value in (
            ("vocab_size", vocab_size),
            ("hidden_size", hidden_size),
            ("num_hidden_layers", num_hidden_layers),
            ("num_attention_heads", num_attention_heads),
            ("intermediate_size", intermediate_size),
            ("max_position_embeddings", max_position_embeddings),
            ("segment_size", segment_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be a multiple of num_attention_heads ({num_attention_heads})"
            )
        if (
            isinstance(local_window, bool)
            or not isinstance(local_window, int)
            or local_window < 1
            or local_window % 2 == 0
        ):
            raise ValueError(
                f"local_window must be an odd int >= 1 (a centred max-pooling window), got {local_window!r}"
            )
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.segment_size = segment_size
        self.local_window = local_window
        self.classifier_dropout = classifier_dropout
        self.tie_word_embeddings = tie_word_embeddings  # the MLM decoder shares the word embeddings (BERT)
        self.pad_token_id = pad_token_id
        super().__init__(**kwargs)
