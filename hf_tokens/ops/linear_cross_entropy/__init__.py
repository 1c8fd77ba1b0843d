"""Cut Cross-Entropy (arXiv:2411.09009): cross-entropy, log-probs and entropies of ``hidden @ W.T`` without logits.

``linear_cross_entropy(hidden, lm_head.weight, labels)`` equals ``F.cross_entropy(hidden @ W.T, labels)`` but never
holds the ``[tokens x vocab]`` logits: ``reference.py`` (pure PyTorch, chunked, CPU and any device; a float32 loss
with gradients takes ``fused_loss.py``, which forms them in the forward) and ``triton.py`` (the paper's fused
kernels for CUDA). ``linear_log_probs`` / ``linear_entropy`` give per-token, differentiable
log-probabilities and entropies for RL trainers; ``hf.py`` trains any transformers causal LM with this loss.
"""

from hf_tokens.registry import lazy_exports, register

register(
    "cut-cross-entropy",
    status="experimental",
    extension="ops",
    card_kind="kernel",
    entry="hf_tokens.ops.linear_cross_entropy:linear_cross_entropy",
    contract="hf_tokens.ops.linear_cross_entropy.contract:contract",
    headline=(
        "CPU, 2k tokens x 128k vocab: loss memory 32 MB vs 2720 MB for torch (85x less; Apple CCE torch_compile "
        "1002 MB), time 1.22x torch"
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
