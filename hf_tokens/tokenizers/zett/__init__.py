"""ZeTT: zero-shot tokenizer transfer with an embedding hypernetwork (Minixhofer et al., 2024, arXiv:2405.07883).

:mod:`.hypernetwork` (the model, ``predict``, :func:`load_hypernetwork`), :mod:`.training` (the stream of sampled
tokenizers, LM + auxiliary loss), :mod:`.initializer` (``transplant(..., method="zett", hypernetwork=...)``).
"""

from hf_tokens.registry import lazy_exports

# registered (register(...)) once a measured headline is committed: tests/test_registry.py requires one

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ZettHypernetwork": ".hypernetwork",
        "ZettHypernetConfig": ".hypernetwork",
        "load_hypernetwork": ".hypernetwork",
        "ZettTrainingConfig": ".training",
        "train_hypernetwork": ".training",
        "sample_tokenizer": ".training",
        "ZettInitializer": ".initializer",
        "ZettConverter": ".initializer",
    },
)
