"""``hf-tokens run --method zero-shot-detection``."""

from __future__ import annotations

from typing import Any

from hf_tokens.pipelines.zero_shot_detection.pipeline import ZeroShotDetectionPipeline


def demo(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> dict[str, Any]:
    """``hf-tokens run --method zero-shot-detection``: sample ``max_new_tokens`` from the model (temperature 1, no
    top-k/top-p), then test the prompt and the sample for "written by this model"."""
    import time

    ids = tokenizer(prompt, return_tensors="pt").to(model.device)
    start = time.perf_counter()
    out = model.generate(**ids, do_sample=True, top_k=0, top_p=1.0, temperature=1.0, max_new_tokens=max_new_tokens)
    seconds = time.perf_counter() - start
    sample = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    pipe = ZeroShotDetectionPipeline(model=model, tokenizer=tokenizer)
    effects: dict[str, Any] = {"text": sample, "new_tokens": int(out.shape[1] - ids["input_ids"].shape[1])}
    effects["seconds"] = seconds
    for name, text in (("prompt", prompt), ("sample", sample)):
        try:
            r = pipe(text)
        except ValueError as exc:  # too short to test
            effects[f"{name}_test"] = str(exc)
            continue
        effects[f"{name}_statistic"], effects[f"{name}_p_value"] = r["statistic"], r["p_value"]
        effects[f"{name}_rejected_as_not_from_model"] = r["reject"]
    return effects
