"""Iterative unmasking for masked diffusion LMs, with the two training-free accelerations of FlashDLM (Hu et al.,
"Accelerating Diffusion Language Model Inference via Efficient KV Caching and Guided Diffusion", arXiv:2505.21467).

**Plain sampler** (LLaDA, arXiv:2502.09992, semi-autoregressive): the answer (``max_new_tokens`` masks after the
prompt) is split into blocks of ``block_length``; each block gets ``steps // n_blocks`` denoising steps (at least 1);
each step runs the denoiser, takes the argmax at every masked position of the current block (the mask token itself is
never predicted) and commits the ``n`` most confident ones (low-confidence remasking, deterministic: ``do_sample``
must be False), ``n`` following LLaDA's even split of the block over its steps.

**FreeCache** (``freecache=True``): at the start of each block (and every ``refresh_every`` steps inside it when > 0)
one full forward computes every position and stores every layer's keys/values. The other steps of the block recompute
only the current block's positions; the keys/values of the prompt, of the committed earlier blocks and of the still
masked later blocks are taken from that cache (frozen since the last refresh). The approximation: those positions
would change slightly in a full forward because they attend to the current block, whose tokens change. With
``refresh_every=1`` every step is a full forward and the output equals the plain sampler's exactly (tested).

**Guided Diffusion** (``guide=`` an autoregressive model with the same tokenizer, e.g. SmolLM2; batch size 1): each
step the denoiser proposes a draft for every masked position of the current block; the guide reads prompt + committed
tokens + draft in one forward (with its own KV cache, cropped to the committed tokens) and the draft is committed left
to right while it equals the guide's greedy token; at the first disagreement the guide's token is committed instead
and the step ends. So a step commits at least one token, and a block finishes in as few steps as the two models agree.
Our reading of the paper's rule (the AR model supervises which tokens get unmasked, left to right); named here.
A consequence (tested): every committed token is the guide's greedy choice after the committed prefix, so the output
equals the guide's own greedy continuation; the denoiser decides how many tokens each step commits. Against the plain
sampler a guided step pays one guide forward over the block's remaining tokens (cached prefix) instead of nothing; the
paper's guides are much smaller than the denoiser (0.5B for 7-8B diffusion LMs). ``benchmarks/diffusion_lm.py`` uses
SmolLM2-135M to guide SmolLM2-135M adapted to diffusion (:mod:`.convert`): the guide is as large as the denoiser but
reads only the block (with its KV cache), while every plain step reads the whole sequence.

Models with ``config.shift_logits`` (adapted from AR models, :mod:`.convert`) read position ``i``'s prediction from
hidden state ``i-1``; the sampler then also recomputes position ``s-1`` in FreeCache steps (``s``: the block start).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from hf_tokens._compat import cache_kwarg


def _check(model: Any, input_ids: Any, max_new_tokens: Any, steps: Any, block_length: Any, refresh_every: Any) -> int:
    mask_id = model.config.mask_token_id
    if mask_id is None:
        raise ValueError("the model's config has no mask_token_id: iterative unmasking needs a mask token")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.dtype != torch.long:
        raise TypeError("input_ids must be a [batch, length] LongTensor")
    if bool((input_ids == mask_id).any()):
        raise ValueError(f"input_ids contain the mask token ({mask_id}); the prompt must be clean text")
    for name, value in (("max_new_tokens", max_new_tokens), ("steps", steps), ("block_length", block_length)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not isinstance(refresh_every, int) or refresh_every < 0:
        raise ValueError(
            f"refresh_every must be an int >= 0 (0: refresh only at each block start), got {refresh_every!r}"
        )
    return int(mask_id)


def _check_guide(model: Any, guide: Any, batch: int, prompt_len: int) -> None:
    if batch != 1:
        raise ValueError(f"guided diffusion runs one sequence at a time; got a batch of {batch}")
    if prompt_len < 1:
        raise ValueError("guided diffusion needs a prompt of at least one token (the guide predicts the next token)")
    out = guide.get_output_embeddings()
    size = out.weight.shape[0] if out is not None else guide.config.vocab_size
    vocab, mask_id = model.config.vocab_size, model.config.mask_token_id
    if size != vocab and not (mask_id == vocab - 1 and size == vocab - 1):
        raise ValueError(
            f"guide has a vocabulary of {size} ids but the diffusion LM has {vocab} (mask token {mask_id}); "
            "the guide must share the diffusion LM's tokenizer"
        )


class _Guide:
    """The AR guide with its KV cache over the committed prefix."""

    def __init__(self, model: Any) -> None:
        self.model, self.cache, self.length = model, None, 0
        self.kwarg = cache_kwarg(model)

    @torch.no_grad()
    def greedy(self, seq: torch.Tensor, first: int, end: int) -> torch.Tensor:
        """The guide's greedy token for positions ``first .. end-1`` of ``seq`` (one forward over the new tokens)."""
        start = min(self.length, first - 1)
        if self.cache is not None and start < self.length:
            self.cache.crop(start - self.length)  # a negative count removes that many tokens (every release)
        kwargs: dict[str, Any] = {self.kwarg: self.cache} if self.cache is not None else {}
        out = self.model(input_ids=seq[:, start:end], use_cache=True, **kwargs)
        self.cache = getattr(out, "cache", None) or out.past_key_values
        self.length = end
        return out.logits[0, first - 1 - start : end - 1 - start].argmax(-1)

    def keep(self, n: int) -> None:
        """Keep only the first ``n`` positions in the cache (those equal to committed tokens)."""
        if self.cache is not None and n < self.length:
            self.cache.crop(n - self.length)
            self.length = n


@torch.no_grad()
def diffusion_generate(
    model: Any,
    input_ids: torch.Tensor,
    *,
    max_new_tokens: int = 32,
    steps: int | None = None,
    block_length: int | None = None,
    attention_mask: torch.Tensor | None = None,
    do_sample: bool = False,
    freecache: bool = False,
    refresh_every: int = 0,
    guide: Any = None,
) -> tuple[torch.Tensor, dict[str, int]]:
    """``(ids[B, prompt + max_new_tokens], stats)``; ``stats`` counts ``denoiser_forwards`` (denoising steps),
    ``full_forwards`` (of them, the ones over every position) and ``guide_forwards``.

    ``steps`` (default ``max_new_tokens``: one token per step) is the total number of denoising steps of the plain
    sampler, spread evenly over the blocks; ``block_length`` defaults to ``min(max_new_tokens, 32)``. With a
    ``guide`` the number of steps is decided by the guide's agreement (``steps`` is ignored).
    """
    mask_id = _check(model, input_ids, max_new_tokens, steps, block_length, refresh_every)
    if do_sample:
        raise ValueError("do_sample must be False: the sampler is deterministic low-confidence remasking")
    if attention_mask is not None and not bool(attention_mask.bool().all()):
        raise ValueError("padded prompts are not supported: pass prompts of one length (attention_mask all ones)")
    B, P = input_ids.shape
    shift = int(getattr(model.config, "shift_logits", False))
    if shift and P < 1:
        raise ValueError("input_ids must hold at least one prompt token: the model reads token i from position i-1")
    if guide is not None:
        _check_guide(model, guide, B, P)
    N = max_new_tokens
    limit = model.config.max_position_embeddings
    if limit < P + N:
        raise ValueError(f"prompt ({P}) + max_new_tokens ({N}) exceeds max_position_embeddings={limit}")
    block = min(block_length or 32, N)
    n_blocks = math.ceil(N / block)
    per_block = max(1, (steps or N) // n_blocks)
    device = input_ids.device
    x = torch.cat([input_ids, torch.full((B, N), mask_id, dtype=torch.long, device=device)], dim=1)
    stats = {"denoiser_forwards": 0, "full_forwards": 0, "guide_forwards": 0}
    helper = _Guide(guide) if guide is not None else None
    for b in range(n_blocks):
        s, e = P + b * block, min(P + (b + 1) * block, P + N)
        size = e - s
        k = min(per_block, size)
        schedule = [size // k + (1 if i < size % k else 0) for i in range(k)]
        active = torch.arange(s - shift, e, device=device)  # shifted models also need hidden state s-1
        kv = None
        step = 0
        while bool((x[:, s:e] == mask_id).any()):
            if freecache and kv is not None and not (refresh_every and step % refresh_every == 0):
                hidden, _ = model.hidden(x, active=active, kv=kv)
                hidden = hidden[:, :size]
            else:
                hidden, full_kv = model.hidden(x)
                hidden = hidden[:, s - shift : e - shift]
                kv = full_kv if freecache else None
                stats["full_forwards"] += 1
            stats["denoiser_forwards"] += 1
            logits = model.project(hidden).float()
            logits[..., mask_id] = float("-inf")
            masked = x[:, s:e] == mask_id
            if helper is not None:
                _guided_step(x, logits.argmax(-1), masked, helper, s, e)
                stats["guide_forwards"] += 1
            else:
                conf, pred = logits.softmax(-1).max(-1)
                conf = conf.masked_fill(~masked, float("-inf"))
                n = min(schedule[min(step, len(schedule) - 1)], int(masked.sum(-1).min()))
                pick = conf.topk(n, dim=-1).indices
                block_ids = x[:, s:e]
                block_ids.scatter_(1, pick, pred.gather(1, pick))
            step += 1
    return x, stats


def _guided_step(x: torch.Tensor, draft: torch.Tensor, masked: torch.Tensor, guide: _Guide, s: int, e: int) -> None:
    """Commit the draft left to right while the guide agrees; at the first disagreement commit the guide's token."""
    first = s + int(masked[0].int().argmax())  # guided steps commit left to right: the masked part is a suffix
    seq = x.clone()
    seq[0, s:e] = torch.where(masked[0], draft[0], x[0, s:e])
    verdict = guide.greedy(seq, first, e)
    proposal = seq[0, first:e]
    agree = (verdict == proposal).int()
    accepted = int(agree.cumprod(0).sum())
    x[0, first : first + accepted] = proposal[:accepted]
    if first + accepted < e:
        x[0, first + accepted] = verdict[accepted]
    guide.keep(first + accepted)
