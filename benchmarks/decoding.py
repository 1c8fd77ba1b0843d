"""Plain greedy decoding speed of the bundled model: DynamicCache (baseline) vs StaticCache.

A smoke test of the benchmark harness and the reference point for every generation method:

    python benchmarks/decoding.py --quick --json bench_results/decoding.json
"""

from __future__ import annotations

import argparse

from hf_tokens.benchmarking import Benchmark, add_common_args, measure, setup_torch


def main(argv: list[str] | None = None) -> dict:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--new-tokens", type=int, default=None)
    args = parser.parse_args(argv)
    setup_torch(args)

    import torch
    from tqdm import tqdm

    from hf_tokens._compat import cache_kwarg
    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import text_chunks

    model, tokenizer = load_model(args.model)
    model.to(args.device)
    new_tokens = args.new_tokens or (32 if args.quick else 128)
    repeats = args.repeats or (3 if args.quick else 5)
    prompts = text_chunks("jargon", 2 if args.quick else 4, 600, seed=1)
    bench = Benchmark("decoding", args.model, device=args.device, quick=args.quick)

    def run(cache_implementation: str | None, prompt: str) -> int:
        inputs = tokenizer(prompt, return_tensors="pt").to(args.device)
        kwargs = {"cache_implementation": cache_implementation} if cache_implementation else {}
        with torch.inference_mode():
            out = model.generate(
                **inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, **kwargs
            )
        return out.shape[1] - inputs["input_ids"].shape[1]

    results: dict[str, list[float]] = {"dynamic": [], "static": []}
    for prompt in tqdm(prompts, desc="prompts"):
        for name, impl in (("dynamic", None), ("static", "static")):
            m = measure(lambda impl=impl, prompt=prompt: run(impl, prompt), repeats=repeats, warmup=1)
            results[name].append(new_tokens / m.median)
    base = sum(results["dynamic"]) / len(results["dynamic"])
    bench.add("greedy + DynamicCache", "tokens/s", base, baseline="greedy + DynamicCache", baseline_value=base)
    static = sum(results["static"]) / len(results["static"])
    bench.add("greedy + StaticCache", "tokens/s", static, baseline="greedy + DynamicCache", baseline_value=base)
    bench.note(f"{len(prompts)} prompts of ~600 characters, {new_tokens} new tokens, median of {repeats} runs each")
    bench.note(f"cache argument of generate in this transformers: {cache_kwarg()}")
    data = bench.finish(args.json)
    if args.plot:
        from hf_tokens.benchmarking import plot_lines

        plot_lines(
            args.plot,
            {k: (list(range(1, len(v) + 1)), v) for k, v in results.items()},
            xlabel="prompt",
            ylabel="tokens/s",
            title="greedy decoding speed",
        )
    return data


if __name__ == "__main__":
    main()
