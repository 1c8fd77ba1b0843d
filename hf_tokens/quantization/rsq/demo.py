"""``hf-tokens run --method rsq``: quantize a copy of the model with RSQ (4-bit, group 128, a small calibration set)
and generate with it; effects: quantization seconds, weight memory before/after."""

from __future__ import annotations

import copy
import time
from typing import Any

DEMO_CONFIG: dict[str, Any] = {
    "bits": 4,
    "group_size": 128,
    "calibration": "fortunes",
    "num_samples": 8,
    "seq_len": 128,
}


def demo(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> dict[str, Any]:
    import torch

    from hf_tokens.demo import encode_prompt
    from hf_tokens.quantization.rsq.calibrate import quantize_model
    from hf_tokens.quantization.rsq.config import RSQConfig
    from hf_tokens.quantization.rsq.modules import packed_bytes

    config = RSQConfig(**DEMO_CONFIG)
    quantized = copy.deepcopy(model)
    start = time.perf_counter()
    quantize_model(quantized, config, tokenizer=tokenizer)
    quantize_s = time.perf_counter() - start
    inputs = encode_prompt(tokenizer, prompt, chat=True)
    start = time.perf_counter()
    with torch.no_grad():
        out = quantized.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    seconds = time.perf_counter() - start
    n = inputs["input_ids"].shape[1]
    return {
        "text": tokenizer.decode(out[0, n:], skip_special_tokens=True),
        "new_tokens": int(out.shape[1] - n),
        "seconds": seconds,
        "config": config.describe(),
        "quantize_seconds": round(quantize_s, 1),
        "weights_mb_float": round(packed_bytes(model) / 2**20, 1),
        "weights_mb_quantized": round(packed_bytes(quantized) / 2**20, 1),
    }
