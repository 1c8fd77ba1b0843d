"""Methods at the `tokenizers` extension point; each sub-package is one method and registers itself.

Shared machinery (imported lazily):

* :func:`transplant` — move a model to a new tokenizer (one API for every initialiser: ``"tokenadapt"``, ``"mean"``,
  ``"random"``, or one added with :func:`register_initializer`); :class:`Initializer` is the base class.
* :func:`nll_per_char` — loss per character, comparable across tokenizers (the transfer benchmarks' metric).
* :func:`continue_training` — the short continued-training step after a transplant (ZeTT's n-shot transfer).
* :func:`surface_forms` — the byte string behind every token id (how vocabularies are matched).
* :func:`train_bpe` / :func:`train_char_bpe` — domain and character-level BPE training (KL3M recipe).
* :func:`train_supertokens` — multi-word supertoken BPE (TokenAdapt paper).
"""

from hf_tokens.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "transplant": ".transplantation",
        "Initializer": ".transplantation",
        "CombinationInitializer": ".transplantation",
        "TransplantContext": ".transplantation",
        "register_initializer": ".transplantation",
        "INITIALIZERS": ".transplantation",
        "nll_per_char": ".evaluation",
        "continue_training": ".continued",
        "ContinuedTrainingConfig": ".continued",
        "surface_forms": ".vocab",
        "Vocabulary": ".vocab",
        "train_bpe": ".train",
        "train_char_bpe": ".train",
        "BPETrainingConfig": ".train",
        "train_supertokens": ".supertokens",
        "SupertokenConfig": ".supertokens",
        "chars_per_token": ".supertokens",
    },
)
