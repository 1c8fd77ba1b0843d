"""Methods at the `generation` extension point; each sub-package is one method and registers itself.

Shared pieces exported here: :func:`make_custom_generate` (a method's public ``generate`` for both ``custom_generate``
call conventions, :mod:`.entry`) and :func:`onednn_linears` (a scoped switch that runs multi-row float32 CPU
``nn.Linear`` calls on oneDNN, e.g. around transformers' prompt lookup or assisted decoding, :mod:`.tree.linear`).
"""

from hf_tokens.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "make_custom_generate": ".entry",
        "onednn_linears": ".tree.linear",
    },
)
