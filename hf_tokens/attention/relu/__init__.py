"""ReLU attention (the mitigation of attention sinks in Active-Dormant Attention Heads, arXiv 2410.13835) as
``hf_tokens_relu``: part of the ``active-dormant-heads`` method, trained against softmax on the paper's
Bigram-Backcopy task by :mod:`hf_tokens.analysis.active_dormant_heads.bigram_backcopy`; the attention contract suite's
checks run on it in ``tests/attention/test_relu_attention.py``."""

from hf_tokens.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {"relu_attention": ".attention", "register_relu_attention": ".attention", "relu_attention_weights": ".attention"},
)
