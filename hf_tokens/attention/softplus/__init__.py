"""Softplus attention with re-weighting (LSSA / LSSAR, Gao et al., arXiv 2501.13428) as ``hf_tokens_softplus``.

Softmax is ``l1norm o exp``; the paper keeps the l1 normalisation and replaces the non-linearity:

* LSSA: ``A_i = l1norm(softplus(log(d) * log(N_i) * q_i . k_j))`` with L2-normalised ``q``/``k`` (a cosine in
  [-1, 1]), ``d`` the head dim and ``N_i`` the number of keys row ``i`` attends to (the length-dependent scale
  from invariance entropy: it grows with the row's length, so a longer context does not flatten the weights);
* LSSAR: re-weighting ``A_i <- l1norm(ReLU(N_i * A_i - O_i) ** p)`` (``O_i = 1``, 0 on the first 3 rows), which
  amplifies weights above the row's mean ``1 / N_i`` and removes the rest; ``p = 15`` in the paper. It can be
  switched on at inference only (the paper's first version: "fine-tuning-free"), optionally only on rows longer than
  the training length (``reweight_after``).

Files: ``config.py`` (:class:`SoftplusAttentionConfig`, stored as ``softplus_*`` model-config attributes),
``reference.py`` (PyTorch, the oracle and the training path), ``triton.py`` (forward kernel), ``attention.py``
(the transformers attention function, the op and the contract).

Deviations from the paper: ``N_i`` counts the keys a row actually sees (padding excluded), so a left-padded row
equals the row alone; a row whose shifted weights are all zero (all weights equal) keeps its LSSA weights instead
of dividing 0 by 0; the power is applied to ``r / max(r)`` (the same weights after l1 normalisation, no overflow of
``N ** p``); no attention dropout. The Triton kernel is forward-only.
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "softplus-attention",
    status="experimental",
    extension="attention",
    entry="hf_tokens.attention.softplus.attention:softplus_attention",
    config="hf_tokens.attention.softplus.config:SoftplusAttentionConfig",
    contract="hf_tokens.attention.softplus.attention:contract",
    headline=Headline(
        "val loss at 16x the training length / at 1x: LSSAR (trained with re-weighting, p=15) x{r.ratio:.3f}, "
        "softmax x{s.ratio:.3f} (LSSAR's 16x loss x{v.ratio:.3f} softmax's); re-weighting switched on at inference "
        "only (LSSA-trained) x{rw.ratio:.3f} but x{rw1.ratio:.3f} softmax's loss at 1x; byte-level Llama 4x256, "
        "120 steps at 256, CPU",
        file="bench_results/attention_extrapolation_lssar.json",
        rows={
            "r": {"method": "lssar", "metric": "val_loss@4096"},
            "s": {"method": "softmax", "metric": "val_loss@4096"},
            "v": {"method": "lssar", "metric": "val_loss_vs_softmax@4096"},
            "rw": {
                "file": "bench_results/attention_extrapolation.json",
                "method": "lssa+rw",
                "metric": "val_loss@4096",
            },
            "rw1": {
                "file": "bench_results/attention_extrapolation.json",
                "method": "lssa+rw",
                "metric": "val_loss_vs_softmax@256",
            },
        },
    ),
    benchmark=(
        "python benchmarks/attention.py --arms softmax lssar --json bench_results/attention_extrapolation_lssar.json"
        "  # and --arms softmax lssa --json bench_results/attention_extrapolation.json (re-weighting at inference)"
    ),
    usage=(
        "from hf_tokens.attention.softplus import SoftplusAttentionConfig, register_softplus_attention\n"
        "key = register_softplus_attention()  # 'hf_tokens_softplus'\n"
        "config = LlamaConfig(..., **SoftplusAttentionConfig(reweight_power=15.0).to_model_kwargs())  # LSSAR\n"
        "model = AutoModelForCausalLM.from_config(config, attn_implementation=key)  # train it as usual\n"
        "model.config.softplus_reweight_power = 15.0  # or switch re-weighting on later, e.g. on an LSSA model"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SoftplusAttentionConfig": ".config",
        "softplus_attention": ".attention",
        "softplus_attention_op": ".attention",
        "register_softplus_attention": ".attention",
        "KEY": ".attention",
    },
)
