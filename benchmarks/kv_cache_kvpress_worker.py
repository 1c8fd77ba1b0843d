"""kvpress side of ``benchmarks/kv_cache.py``, run by it in a separate interpreter (kvpress pins transformers<5.3).

Reads the token ids and settings from ``--input`` (JSON), evaluates kvpress's presses closest to our caches
(ObservedAttentionPress = H2O-like, needs eager attention; SnapKVPress; StreamingLLMPress) in two settings, and
writes raw results to ``--output``. Presses mask nothing away: the kept cache really is smaller.

* ``prefill``: ``compression_ratio = 1 - budget`` on the prefill only, kvpress's usual use (decoded tokens are then
  all kept, so the cache ends above the budget).
* ``same_bytes``: kvpress's ``PrefillDecodingPress`` compresses the prefill to ``target`` tokens and a
  ``DecodingPress`` keeps the cache at ``target`` while decoding, where ``target`` is what our caches hold at the end
  (``ceil(budget * tokens seen)``), so both never hold more than that. ObservedAttention and StreamingLLM compress
  after every decoding step; SnapKV scores with a window of recent queries, so it compresses every ``window + 1``
  steps (window 16) down to ``target - window`` tokens, so between steps it too never holds more than
  ``target``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    with open(args.input) as fh:
        spec = json.load(fh)

    import torch
    import transformers
    from kvpress import (
        DecodingPress,
        ObservedAttentionPress,
        PrefillDecodingPress,
        SnapKVPress,
        StreamingLLMPress,
    )
    from transformers import AutoModelForCausalLM, DynamicCache

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _kv_eval import continuation_nll, greedy_answer

    torch.set_num_threads(spec["threads"])
    models = {
        impl: AutoModelForCausalLM.from_pretrained(
            spec["model_dir"], dtype=torch.float32, attn_implementation=impl
        ).eval()
        for impl in ("sdpa", "eager")
    }
    presses = {
        "ObservedAttention": (ObservedAttentionPress, "eager"),
        "SnapKV": (SnapKVPress, "sdpa"),
        "StreamingLLM": (StreamingLLMPress, "sdpa"),
    }

    def make_press(setting: str, press_cls: type, budget: float, prompt_len: int, new_tokens: int) -> Any:
        if setting == "prefill":
            return press_cls(compression_ratio=1.0 - budget)
        target = math.ceil(budget * (prompt_len + new_tokens - 1))  # what our caches hold after the last token
        interval, window = (17, 16) if press_cls is SnapKVPress else (1, None)
        held = target - interval + 1
        return PrefillDecodingPress(
            prefilling_press=press_cls(compression_ratio=1.0 - held / prompt_len),
            decoding_press=DecodingPress(
                base_press=press_cls(window_size=window) if window else press_cls(),
                compression_interval=interval,
                target_size=held,
                hidden_states_buffer_size=interval,
            ),
        )

    rows = []
    for name, (press_cls, impl) in presses.items():
        model = models[impl]
        for budget in spec["budgets"]:
            for setting in ("prefill", "same_bytes"):
                texts = [
                    continuation_nll(
                        model,
                        ctx,
                        cont,
                        DynamicCache(),
                        make_press(setting, press_cls, budget, len(ctx), len(cont))(model),
                    )
                    for ctx, cont in zip(spec["contexts"], spec["continuations"])
                ]
                n_new = spec["answer_tokens"]
                answers = [
                    greedy_answer(
                        model,
                        prompt,
                        DynamicCache(),
                        n_new,
                        make_press(setting, press_cls, budget, len(prompt), n_new)(model),
                    )
                    for prompt in spec["needle_prompts"]
                ]
                label = name if setting == "prefill" else f"{name}+decoding"
                rows.append({"press": label, "budget": budget, "texts": texts, "answers": answers})
                print(f"kvpress {label} budget {budget}: done", file=sys.stderr, flush=True)
    versions = {"transformers": transformers.__version__, "torch": torch.__version__}
    try:
        from importlib.metadata import version

        versions["kvpress"] = version("kvpress")
    except Exception:  # pragma: no cover - metadata is always there when kvpress imports
        pass
    with open(args.output, "w") as fh:
        json.dump({"rows": rows, "versions": versions, "python": sys.executable}, fh)


if __name__ == "__main__":
    main()
