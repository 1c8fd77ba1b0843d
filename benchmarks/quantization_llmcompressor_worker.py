"""llmcompressor side of ``benchmarks/quantization.py``, run by it in a separate interpreter (llmcompressor pins
transformers 5.15-5.17; ``.venv-llmcompressor``, see ``quantization.py --llmcompressor-python``).

Quantizes the model folder with llmcompressor's ``GPTQModifier`` on exactly the calibration ids our arms use
(``--calib``: a ``[N, L]`` int64 tensor saved with ``torch.save``; no shuffling, no truncation), every decoder
linear layer, ``lm_head`` kept in full precision (as ours), integer weights with ``--bits``, ``--group-size``
(-1 = one scale per output channel), asymmetric unless ``--sym``, damping ``--damp`` and activation ordering
``--actorder`` (``none`` = ours; ``static`` = llmcompressor's default). GPTQ writes the quantize-dequantized weights
back into each layer; the worker saves those weights (``--output``, safetensors) so the caller evaluates them with
the same perplexity code as every other arm, and prints a JSON line with the wall-clock and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--calib", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--bits", type=int, required=True)
    parser.add_argument("--group-size", type=int, required=True)
    parser.add_argument("--sym", action="store_true")
    parser.add_argument("--damp", type=float, default=0.01)
    parser.add_argument("--actorder", choices=("none", "static", "group"), default="none")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import compressed_tensors
    import llmcompressor
    import transformers
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
    from datasets import Dataset
    from llmcompressor import oneshot
    from llmcompressor.modifiers.gptq import GPTQModifier
    from safetensors.torch import save_file

    calib = torch.load(args.calib)
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32)
    group = {"strategy": "group", "group_size": args.group_size}
    strategy = {"strategy": "channel"} if args.group_size == -1 else group
    weights = QuantizationArgs(num_bits=args.bits, type="int", symmetric=args.sym, dynamic=False, **strategy)
    scheme = QuantizationScheme(targets=["Linear"], weights=weights)
    recipe = GPTQModifier(
        config_groups={"group_0": scheme},
        ignore=["lm_head"],
        dampening_frac=args.damp,
        block_size=128,
        actorder=None if args.actorder == "none" else args.actorder,
    )
    data = Dataset.from_dict({"input_ids": calib.tolist(), "attention_mask": torch.ones_like(calib).tolist()})
    start = time.perf_counter()
    oneshot(
        model=model,
        dataset=data,
        recipe=recipe,
        num_calibration_samples=calib.shape[0],
        max_seq_length=calib.shape[1],
        shuffle_calibration_samples=False,
    )
    seconds = time.perf_counter() - start
    quantized = {
        f"{name}.weight": module.weight.detach().float().contiguous()
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name != "lm_head"
    }
    save_file(quantized, args.output)
    versions = {
        "llmcompressor": llmcompressor.__version__,
        "compressed-tensors": compressed_tensors.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    print(json.dumps({"quant_s": seconds, "layers": len(quantized), "versions": versions}))


if __name__ == "__main__":
    main()
