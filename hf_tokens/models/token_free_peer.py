"""Where the MEGABYTE peer arm of the token-free experiment (benchmarks/token_free.py, issue 22) is recorded, for the
headlines of the hierarchical byte/word models (``learn-your-tokens``, ``hierarchical-ar``). No imports: registration
modules read it."""

MEGABYTE_FILE = "bench_results/token_free_models_megabyte.json"
MEGABYTE_RUN = (
    "python benchmarks/token_free.py --part models --quick --scale 2 --save-checkpoints --arms bytes megabyte "
    f"--baselines-from bench_results/token_free_models.json --json {MEGABYTE_FILE}"
)
