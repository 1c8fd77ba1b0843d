"""Publishing KL3M tokenizers (``save_for_hub`` with a tokenizer card) and the `tokenizers` contract.

KL3M trains tokenizers; moving an existing model onto one is not part of the paper. The contract's ``convert`` is the
library's shared :func:`hf_tokens.tokenizers.transplant` with its mean initialiser (tokens of both vocabularies keep
their rows), the plainest way to adopt a freshly trained tokenizer; continued training is the user's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

METHOD_ID = "kl3m-tokenizers"


def save_kl3m_tokenizer(
    tokenizer: Any,
    folder: str | os.PathLike[str],
    *,
    config: Any = None,
    name: str | None = None,
    description: str | None = None,
    metrics: list[dict[str, Any]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Save a KL3M tokenizer with its card (``README.md``) and config into ``folder`` (atomically)."""
    from transformers import PreTrainedTokenizerFast

    from hf_tokens.hub import save_for_hub

    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise TypeError(f"tokenizer must be a PreTrainedTokenizerFast, got {type(tokenizer).__name__}")
    return save_for_hub(
        None,
        folder,
        method_id=METHOD_ID,
        kind="tokenizer",
        tokenizer=tokenizer,
        config=config,
        overwrite=overwrite,
        name=name,
        description=description,
        metrics=metrics,
        usage=(
            "from transformers import AutoTokenizer\n"
            f'tok = AutoTokenizer.from_pretrained("{Path(folder).name}")\n'
            'tok("The Licensee shall indemnify the Licensor under Section 7(b).")'
        ),
    )


def convert(model: Any, old_tokenizer: Any, new_tokenizer: Any) -> tuple[Any, Any]:
    """Move ``model`` onto a KL3M tokenizer with the shared transplant (mean initialiser)."""
    from hf_tokens.tokenizers.transplantation import transplant

    return transplant(model, old_tokenizer, new_tokenizer, method="mean")


def contract() -> dict[str, Any]:
    """The `tokenizers` contract (tests/suites/README.md)."""
    return {"convert": convert}
