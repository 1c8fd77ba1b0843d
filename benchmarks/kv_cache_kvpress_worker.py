"""kvpress side of ``benchmarks/kv_cache.py``, run by it in a separate interpreter (kvpress pins transformers<5.3).

Reads the token ids and settings from ``--input`` (JSON), evaluates kvpress's presses closest to our caches
(ObservedAttentionPress = H2O-like, needs eager attention; SnapKVPress; StreamingLLMPress) with
``compression_ratio = 1 - budget`` on the prefill, and writes raw results to ``--output``. Presses compress the
prefill only (decoded tokens are then kept), and they mask nothing away: the kept cache really is smaller.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

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
    from kvpress import ObservedAttentionPress, SnapKVPress, StreamingLLMPress
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
    rows = []
    for name, (press_cls, impl) in presses.items():
        model = models[impl]
        for budget in spec["budgets"]:
            press = press_cls(compression_ratio=1.0 - budget)
            texts = [
                continuation_nll(model, ctx, cont, DynamicCache(), press(model))
                for ctx, cont in zip(spec["contexts"], spec["continuations"])
            ]
            answers = [
                greedy_answer(model, prompt, DynamicCache(), spec["answer_tokens"], press(model))
                for prompt in spec["needle_prompts"]
            ]
            rows.append({"press": name, "budget": budget, "texts": texts, "answers": answers})
            print(f"kvpress {name} budget {budget}: done", file=sys.stderr, flush=True)
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
