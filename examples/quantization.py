"""RSQ (arXiv 2503.01820): quantize the bundled SmolLM2 to 4 bits through ``from_pretrained(quantization_config=)``,
save it with its card, reload the packed weights and generate.

python examples/quantization.py --out /tmp/smollm2-rsq-4bit
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m", help="a bundled model name (hf_tokens.assets)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the quantized model (default: a temp dir)")
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--samples", type=int, default=8, help="calibration sequences")
    parser.add_argument("--seq-len", type=int, default=128, help="calibration tokens per sequence")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_tokens.assets import model_folder
    from hf_tokens.quantization.rsq import RSQConfig
    from hf_tokens.quantization.rsq.hub import save_quantized

    folder = model_folder(args.model)
    config = RSQConfig(bits=args.bits, group_size=128, calibration="fortunes", num_samples=args.samples,
                       seq_len=args.seq_len)  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=config)  # rotate, scale, GPTQ
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "smollm2-rsq"
        save_quantized(model, out, tokenizer=tokenizer, overwrite=True)
        size = sum(p.stat().st_size for p in out.rglob("*.safetensors")) / 2**20
        print(f"saved {config.describe()} to {out} ({size:.0f} MB of safetensors, card in README.md)")
        again = AutoModelForCausalLM.from_pretrained(out)  # packed weights load through the registered quantizer
    ids = tokenizer("The capital of France is", return_tensors="pt")
    reply = again.generate(**ids, max_new_tokens=args.max_new_tokens, do_sample=False)
    print(repr(tokenizer.decode(reply[0, ids.input_ids.shape[1] :], skip_special_tokens=True)))


if __name__ == "__main__":
    main()
