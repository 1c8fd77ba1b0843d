"""``TokenAdaptConverter``: the TokenAdapt transplant as one object, and the contract for the tokenizer suite."""

from __future__ import annotations

from typing import Any

from hf_tokens.tokenizers.tokenadapt.config import TokenAdaptConfig


class TokenAdaptConverter:
    """Move a model to a new tokenizer with TokenAdapt's hybrid initialisation::

    converter = TokenAdaptConverter(TokenAdaptConfig(top_k=3, temperature=0.3, global_weight=0.3))
    new_model, new_tokenizer = converter.convert(model, old_tokenizer, new_tokenizer)
    """

    def __init__(self, config: TokenAdaptConfig | None = None, **transplant_kwargs: Any) -> None:
        if config is not None and not isinstance(config, TokenAdaptConfig):
            raise TypeError(f"config must be a TokenAdaptConfig, got {type(config).__name__}")
        self.config = config or TokenAdaptConfig()
        self.transplant_kwargs = transplant_kwargs

    def convert(
        self, model: Any, old_tokenizer: Any, new_tokenizer: Any, **initializer_kwargs: Any
    ) -> tuple[Any, Any]:
        from hf_tokens.tokenizers.tokenadapt.initializer import TokenAdaptInitializer
        from hf_tokens.tokenizers.transplantation import transplant

        initializer = TokenAdaptInitializer(self.config, **initializer_kwargs)
        return transplant(model, old_tokenizer, new_tokenizer, initializer, **self.transplant_kwargs)

    __call__ = convert


def contract() -> dict[str, Any]:
    """The `tokenizers` contract (tests/suites/README.md)."""
    return {"convert": TokenAdaptConverter().convert}
