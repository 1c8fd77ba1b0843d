"""Cut Cross-Entropy (arXiv:2411.09009): cross-entropy, log-probs and entropies of ``hidden @ W.T`` without logits.

``linear_cross_entropy(hidden, lm_head.weight, labels)`` equals ``F.cross_entropy(hidden @ W.T, labels)`` but never
holds the ``[tokens x vocab]`` logits: ``reference.py`` (pure PyTorch, chunked, CPU and any device; a float32 loss
with gradients takes ``fused_loss.py``, which forms them in the forward) and ``triton.py`` (the paper's fused
kernels for CUDA). ``linear_log_probs`` / ``linear_entropy`` give per-token, differentiable
log-probabilities and entropies for RL trainers; ``hf.py`` trains any transformers causal LM with this loss.
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "cut-cross-entropy",
    status="experimental",
    extension="ops",
    card_kind="kernel",
    entry="hf_tokens.ops.linear_cross_entropy:linear_cross_entropy",
    contract="hf_tokens.ops.linear_cross_entropy.contract:contract",
    headline=Headline(
        "CPU, 2k tokens x 128k vocab: loss memory {m.value:.0f} MB vs {m.baseline_value:.0f} MB for torch "
        "({m.inverse:.0f}x less; Apple CCE torch_compile {apple.value:.0f} MB), time {t.ratio:.2f}x torch",
        file="bench_results/linear_cross_entropy.json",
        rows={
            "m": {"method": "hf_tokens", "metric": "loss_mb N=2048 H=576 V=128256"},
            "apple": {"method": "apple-cce", "metric": "loss_mb N=2048 H=576 V=128256"},
            "t": {"method": "hf_tokens", "metric": "seconds N=2048 H=576 V=128256"},
        },
    ),
    benchmark=(
        "python benchmarks/linear_cross_entropy.py --quick --vocab 49152 128256 256000 "
        "--json bench_results/linear_cross_entropy.json"
    ),
    demo="hf_tokens.ops.linear_cross_entropy.demo:demo",
    usage=(
        "from hf_tokens.ops.linear_cross_entropy import linear_cross_entropy\n\n"
        "out = model.model(input_ids)  # hidden states, no logits\n"
        "loss = linear_cross_entropy(out.last_hidden_state, model.lm_head.weight, input_ids, shift=True)"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "linear_cross_entropy": ".api",
        "linear_log_probs": ".api",
        "linear_entropy": ".api",
        "linear_log_probs_and_entropy": ".api",
        "resolve_filter_eps": ".reference",
        "cut_cross_entropy_loss": ".hf",
        "enable_cut_cross_entropy": ".hf",
        "CARD_TRAINING_NOTE": ".hf",
    },
)
