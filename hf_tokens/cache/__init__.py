"""Methods at the `cache` extension point; each sub-package is one method and registers itself.

Budgeted KV caches built on :mod:`hf_tokens.cache.base` (a ``transformers.Cache`` of ``DynamicLayer`` subclasses
that evict down to a budget, reading attention statistics from the default sdpa attention without patching it):

* ``h2o.H2OCache`` - recent + heavy-hitter tokens by accumulated attention (arXiv 2306.14048);
* ``ems.EMSCache`` - Global-Local scores, head-wise evict-then-merge with a zero class (arXiv 2412.08521);
* ``tokenselect.TokenSelectCache`` - full cache, per-query top-k by per-head Q.K soft voting (arXiv 2411.02886);
* ``tidaldecode.TidalDecodeCache`` - selection / re-selection layers, position-persistent sparse attention
  (arXiv 2410.05076);
* ``sink.SinkCache`` - the StreamingLLM sink + window baseline (not a registered paper).

Usage: ``model.generate(**inputs, cache=H2OCache(model.config, budget=0.2))`` (``past_key_values=`` before 5.25).
"""
