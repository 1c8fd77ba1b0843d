"""Shared token-tree machinery for lossless tree speculative decoding (no method of its own).

* :mod:`.tree` — :class:`TreeShape` / :class:`TokenTree` (node 0 is the root, parents before children);
* :mod:`.verify` — one verification forward with a 4D additive tree mask and depth position ids over a cached
  prefix, and rollback of ``DynamicCache`` / ``StaticCache`` to the accepted path;
* :mod:`.linear` — on CPU, the multi-token float32 linears of the decoding loop run on oneDNN (the stock small-GEMM
  path makes a tree forward cost grow much faster with tree size); ``onednn_linear=False`` opts out;
  :func:`~.linear.onednn_linears` is the same switch for any model and decoding strategy;
* :mod:`.accept` — greedy and lossless multi-candidate sampling acceptance;
* :mod:`.proposer` — :class:`TreeProposer`, the only thing a method implements;
* :mod:`.decode` — :func:`tree_decode`, the ``custom_generate`` decoding loop (each method's public ``generate``
  is built by :func:`hf_tokens.generation.entry.make_custom_generate`).

Imports are lazy so that registry discovery stays light.
"""

from hf_tokens.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TreeShape": ".tree",
        "TokenTree": ".tree",
        "TreeVerifier": ".verify",
        "check_cache": ".verify",
        "onednn_linears": ".linear",
        "accept_greedy_argmax": ".accept",
        "accept_with_scores": ".accept",
        "sample_with_candidates": ".accept",
        "TreeProposer": ".proposer",
        "tree_decode": ".decode",
    },
)
