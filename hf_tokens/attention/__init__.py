"""The ``attention`` extension point: observe or replace attention calls, and register attention functions.

* :mod:`hf_tokens.attention.hooks` - :func:`observe_keys` turns a cache's keys into a tracked view whose sdpa call
  goes to a handler as an :class:`AttentionCall` (query, keys, mask, probabilities on demand, ``run`` to call the
  real sdpa or replace its output). Nothing global is patched; the budgeted KV caches are built on it.
* :mod:`hf_tokens.attention.register` - :func:`register_attention` registers a function with transformers'
  ``AttentionInterface`` *and* a mask builder with ``AttentionMaskInterface`` under ``hf_tokens_<id>``, so that
  ``from_pretrained(..., attn_implementation="hf_tokens_<id>")`` and ``model.set_attn_implementation`` work on every
  model that uses the attention interface.

Attention methods live in sub-packages (one per method, registering itself with the registry); their contract is
checked by ``tests/suites/test_attention_contract.py`` (keys in ``tests/suites/README.md``).
"""

from hf_tokens.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AttentionCall": ".hooks",
        "TrackedKeys": ".hooks",
        "additive_mask": ".hooks",
        "attention_probs": ".hooks",
        "observe_keys": ".hooks",
        "MASK_KINDS": ".register",
        "check_attention_key": ".register",
        "register_attention": ".register",
        "registered_attention": ".register",
        "unregister_attention": ".register",
    },
)
