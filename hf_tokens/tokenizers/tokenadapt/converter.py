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


def demo(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int, *, target: str = "gpt2") -> dict[str, Any]:
    """``hf-tokens run tokenadapt``: move the model to the GPT-2 tokenizer and continue ``prompt`` greedily."""
    import time

    import torch

    from hf_tokens.assets import load_tokenizer
    from hf_tokens.tokenizers.transplantation import build_context

    new_tokenizer = load_tokenizer(target)
    start = time.perf_counter()
    new_model, new_tok = TokenAdaptConverter().convert(model, tokenizer, new_tokenizer)
    transplant_s = time.perf_counter() - start
    ctx = build_context(model, tokenizer, new_tokenizer)
    inputs = new_tok(prompt, return_tensors="pt", add_special_tokens=False)
    start = time.perf_counter()
    with torch.inference_mode():
        out = new_model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    n = inputs["input_ids"].shape[1]
    return {
        "text": new_tok.decode(out[0, n:], skip_special_tokens=True),
        "new_tokens": int(out.shape[1] - n),
        "seconds": time.perf_counter() - start,
        "target_tokenizer": target,
        "tokens_copied": len(ctx.copied),
        "tokens_initialised": len(ctx.missing),
        "transplant_seconds": transplant_s,
        "prompt_tokens_old_vs_new": f"{len(tokenizer(prompt, add_special_tokens=False)['input_ids'])} vs {n}",
    }
