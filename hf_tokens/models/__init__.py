"""Methods at the `models` extension point; each sub-package is one method and registers itself."""

# the one recipe behind the token-free model headlines (learn-your-tokens, hierarchical-ar, lexinvariant):
# seed 0 with checkpoints, seeds 1 and 2, then the seed summary the headlines quote
TOKEN_FREE_MODELS_BENCHMARK = (
    "python benchmarks/token_free.py --part models --scale 2 --save-checkpoints --json "
    "bench_results/token_free_models.json && for s in 1 2; do python benchmarks/token_free.py --part models --scale 2 "
    "--seed $s --json bench_results/token_free_models_seed$s.json; done && python benchmarks/token_free.py --part "
    "models --summarise bench_results/token_free_models.json bench_results/token_free_models_seed1.json "
    "bench_results/token_free_models_seed2.json --json bench_results/token_free_models_seeds.json"
)
