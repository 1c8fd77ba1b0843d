"""Cut Cross-Entropy (arXiv:2411.09009) as a Hub kernel, generated from hf_tokens; do not edit.

    from kernels import get_kernel
    cce = get_kernel("<org>/linear_cross_entropy")
    loss = cce.linear_cross_entropy(hidden, lm_head.weight, labels, shift=True)
"""

from .api import (
    linear_cross_entropy,
    linear_entropy,
    linear_log_probs,
    linear_log_probs_and_entropy,
)

__all__ = ["linear_cross_entropy", "linear_entropy", "linear_log_probs", "linear_log_probs_and_entropy"]
