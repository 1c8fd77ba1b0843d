"""PoNet: Pooling Network for efficient token mixing in long sequences (Tan et al., ICLR 2022, arXiv 2110.02442).

A BERT-style encoder whose self-attention is replaced by multi-granularity pooling (global aggregation, segment and
local max-pooling, pooling fusion; ``modeling.py``), linear in the sequence length, with MLM and
sequence-classification heads registered with the Auto classes by :func:`register_ponet`.
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

QUALITY = "bench_results/ponet_quality.json"
QUALITY_SEEDS = "bench_results/ponet_quality_seeds.json"

register(
    "ponet",
    status="experimental",
    extension="models",
    entry="hf_tokens.models.ponet.modeling:PoNetForMaskedLM",
    config="hf_tokens.models.ponet.configuration:PoNetConfig",
    contract="hf_tokens.models.ponet.contract:contract",
    headline=Headline(
        "forward time x{p.ratio:.2f} from 2k to 8k tokens (linear: x4; BERT-sdpa x{b.ratio:.2f}), "
        "{t.ratio:.2f}x BERT's time at 8k; held-out MLM loss x{m.ratio:.3f} BERT's after the same 100 MLM "
        "steps (byte-level); after 400 MLM + 400 fine-tuning steps (3-way classification of 1024-byte passages, "
        "120 held-out), mean of {q.n_seeds} seeds: accuracy {q.value:.3f} vs BERT {q.baseline_value:.3f} "
        "(x{q.ratio:.2f}; PoNet minus BERT {q.diff_mean:+.3f}, 95% CI {q.diff_ci95[0]:+.3f} to {q.diff_ci95[1]:+.3f}, "
        "PoNet ahead in {q.ahead}/{q.n_seeds} seeds; paper: ~x0.95), MLM loss x{l.ratio:.2f} (higher than "
        "BERT's in {l.ahead}/{l.n_seeds} seeds), training time x{s.ratio:.2f} (seed 0); 4x256 encoders, CPU",
        file="bench_results/ponet_scaling.json",
        rows={
            "p": {"method": "ponet", "metric": "scaling 2048->8192"},
            "b": {"method": "bert-sdpa", "metric": "scaling 2048->8192"},
            "t": {"method": "ponet", "metric": "seconds@8192"},
            "m": {"file": "bench_results/ponet_mlm.json", "method": "ponet", "metric": "mlm_loss"},
            "q": {"file": QUALITY_SEEDS, "method": "ponet", "metric": "accuracy_over_seeds"},
            "l": {"file": QUALITY_SEEDS, "method": "ponet", "metric": "mlm_loss_over_seeds"},
            "s": {"file": QUALITY, "method": "ponet", "metric": "train_seconds"},
        },
    ),
    benchmark=(
        "python benchmarks/ponet.py --json bench_results/ponet_scaling.json  # and python benchmarks/ponet_quality.py "
        "--mlm-steps 100 --clf-steps 0 --json bench_results/ponet_mlm.json  # and python benchmarks/ponet_quality.py "
        "--json bench_results/ponet_quality.json [--seed N --json bench_results/ponet_quality_seedN.json, "
        "N = 1, 2, 3]  # and python benchmarks/ponet_quality.py --summarise bench_results/ponet_quality.json "
        "bench_results/ponet_quality_seed1.json bench_results/ponet_quality_seed2.json "
        "bench_results/ponet_quality_seed3.json --json bench_results/ponet_quality_seeds.json"
    ),
    usage=(
        "from hf_tokens.models.ponet import PoNetConfig, register_ponet\n"
        "register_ponet()  # AutoConfig / AutoModel / AutoModelForMaskedLM / AutoModelForSequenceClassification\n"
        "model = AutoModelForMaskedLM.from_config(PoNetConfig(hidden_size=256, num_hidden_layers=4, "
        "num_attention_heads=4, intermediate_size=1024))"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PoNetConfig": ".configuration",
        "PoNetModel": ".modeling",
        "PoNetForMaskedLM": ".modeling",
        "PoNetForSequenceClassification": ".modeling",
        "register_ponet": ".modeling",
    },
)
