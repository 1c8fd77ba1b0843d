"""Detectors on per-token statistics with the bundled SmolLM2: DC-PDD membership scores (arXiv 2409.14781) and the
zero-shot LLM-text test (arXiv 2501.02406), each a transformers pipeline.

python examples/detection.py [--out FOLDER]   # FOLDER: where the reference token frequencies are saved (optional)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m", help="a bundled model name (hf_tokens.assets)")
    parser.add_argument("--out", type=Path, default=None, help="save the reference frequencies into this folder")
    parser.add_argument("--tokens", type=int, default=48, help="tokens SmolLM2 samples for the machine text")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from transformers import pipeline

    from hf_tokens.assets import load_model
    from hf_tokens.pipelines.dc_pdd import DCPDDPipeline, TokenFrequency  # noqa: F401  (registers the task)
    from hf_tokens.pipelines.zero_shot_detection import ZeroShotDetectionPipeline  # noqa: F401

    model, tok = load_model(args.model)
    human = (
        "The GNU General Public License is a free, copyleft license for software and other kinds of works. "
        "The licenses for most software are designed to take away your freedom to share and change it."
    )
    freq = TokenFrequency.from_corpora(
        tok, vocab_size=model.config.vocab_size, corpora=("fortunes",), max_chars=300_000
    )
    if args.out is not None:
        print("reference frequencies saved to", freq.save(args.out / "token_frequency.safetensors"))
    mia = pipeline("membership-inference", model=model, tokenizer=tok, reference_frequency=freq)
    for text in (human, "Zorblax quintered the vellichor of plumbiferous mimsy lanterns at dawn."):
        r = mia(text, baselines=True)
        print(
            f"DC-PDD {r['score']:.4f}  Min-K%++ {r['min_k_plus_plus']:+.3f}  -logPPL {r['neg_log_ppl']:.3f}",
            repr(text[:40]),
        )

    torch.manual_seed(0)
    prompt = tok("The history of the printing press", return_tensors="pt")
    sample = model.generate(**prompt, do_sample=True, top_k=0, top_p=1.0, temperature=1.0,
                            max_new_tokens=args.tokens, min_new_tokens=args.tokens)  # fmt: skip
    machine = tok.decode(sample[0])
    detect = pipeline("llm-text-detection", model=model, tokenizer=tok)
    for name, text in (("human", human), ("SmolLM2", machine)):
        r = detect(text, baselines=True)
        print(f"{name:8s} log-PPL - entropy {r['statistic']:+.3f} nats, p = {r['p_value']:.3g}, "
              f"reject 'from SmolLM2': {r['reject']}, Fast-DetectGPT {r['fast_detectgpt']:+.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
