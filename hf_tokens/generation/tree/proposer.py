"""The one thing a tree-speculation method writes: a :class:`TreeProposer`."""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.generation.tree.tree import TokenTree


class TreeProposer:
    """Proposes a draft tree each step and learns from every verification.

    The decoding loop calls :meth:`start` once after the prompt's forward, then per step :meth:`propose` (the root
    token is ``tokens[-1]``, the last token the target chose) and, after verification, :meth:`update` with the
    target's logits for every node and the accepted path.
    """

    #: Largest tree :meth:`propose` returns (sizes the verifier's mask buffer).
    max_nodes: int = 1
    #: How many trailing prompt positions' logits :meth:`start` wants (0: only the last, as plain generate).
    prompt_logits: int = 0
    #: Set by the decoding loop: whether multi-token forwards may use oneDNN linears on CPU (a draft model's too).
    onednn_linear: bool = True

    def start(self, tokens: list[int], prompt_logits: torch.Tensor | None) -> None:
        """Called once with the prompt (``tokens[-1]`` is the first generated token) and, when asked for through
        :attr:`prompt_logits`, the logits ``[m, vocab]`` of the last ``m`` prompt positions."""

    def propose(self, tokens: list[int]) -> TokenTree:
        raise NotImplementedError

    def update(self, tree: TokenTree, logits: torch.Tensor, path: list[int], emitted: list[int]) -> None:
        """``logits[i]`` is the target's output at node ``i``; ``path`` the accepted nodes (root first); ``emitted``
        the tokens appended to the sequence this step (the accepted drafts and the target's bonus token)."""

    def stats(self) -> dict[str, Any]:
        """Method-specific numbers reported in ``decoding_stats`` (e.g. memory of a table)."""
        return {}
