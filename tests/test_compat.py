"""The transformers-release shims: one answer to "which name does this transformers take a KV cache under"."""

from __future__ import annotations

from typing import Any

from hf_tokens._compat import _release_cache_kwarg, cache_kwarg


class _OldRemoteCode:  # a remote-code model written for a release before the rename
    def forward(self, input_ids: Any = None, past_key_values: Any = None, use_cache: bool = True) -> None:
        pass


class _NewName:
    def forward(self, input_ids: Any = None, cache: Any = None, use_cache: bool = True) -> None:
        pass


class _Wrapper:
    def forward(self, *args: Any, **kwargs: Any) -> None:  # a PEFT-style wrapper names neither
        pass


def test_cache_kwarg_follows_the_model_then_the_release(tiny_llama):
    release = _release_cache_kwarg()
    assert cache_kwarg() == release
    assert cache_kwarg(tiny_llama) == release  # the installed release's own models take its name
    assert cache_kwarg(_OldRemoteCode()) == "past_key_values"
    assert cache_kwarg(_NewName()) == "cache"
    assert cache_kwarg(_Wrapper()) == release
    assert cache_kwarg(object()) == release
