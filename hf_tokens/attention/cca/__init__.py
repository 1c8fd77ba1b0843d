"""Core Context Aware attention (Chen et al., "Core Context Aware Attention for Long Context Language Modeling",
arXiv 2412.12465) as ``hf_tokens_cca``.

Two attentions fused in one softmax. *Globality-pooling*: the sequence is cut into groups of ``g`` tokens and each
complete group is merged into one core token, its tokens weighted by their significance - the softmax of the
attention the group's last token gives them - so core key ``= sum_j a_j k_j`` and core value ``= sum_j a_j v_j``.
*Locality-preserved*: each query also attends to its ``s`` most recent tokens. A query at position ``t`` sees the
core tokens of the groups that end before its window (``(k + 1) g - 1 <= t - s``) and the window ``(t - s, t]``, so
at long context it touches ``~ t / g + s`` keys instead of ``t`` (prefill O(L (L/g + s))); with ``g = 1`` it is full
causal attention. The paper adapts a pretrained model by a short continued training (plug-and-play).

Files: ``config.py`` (:class:`CCAConfig`, ``cca_*`` model-config attributes), ``reference.py`` (pooling, the
materialised oracle, the chunked sdpa path that trains and runs long prefills, the few-queries path of a decoding
step), ``triton.py`` (forward kernel of the fused core + local softmax), ``attention.py`` (the transformers attention
function with its decoding state, the op, the contract).

Deviations from the paper: the core keys/values pool the keys/values after the rotary embedding (the paper pools
the hidden states before the projections: the same up to the rotation, which is not linear in position); a
query's window is exactly its ``s`` most recent tokens and it sees only groups that end before the window, so up
to ``g - 1`` tokens between the last visible group and the window are seen by neither part; groups are counted
over each row's real tokens (left padding only); cached decoding keeps the full KV cache and the cores on the
attention module (no beam search); no attention dropout; the Triton kernel is forward-only and the pooling runs in
PyTorch.
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_S2048 = "bench_results/attention_cca_8k_s2048.json"  # the same adapted model with a local window of 2048
_L1024, _L2048 = (f"bench_results/attention_cca_4k_8k{s}.json" for s in ("", "_s2048"))  # adapted at 4096 tokens
_N1024, _N2048 = (f"bench_results/attention_cca_4k2_8k{s}.json" for s in ("", "_s2048"))  # + 77 steps at 4096
# against sdpa fine-tuned 80 steps on the first run's text (s=2048): the 157-step model on 4 and 2 texts, the 80-step
_F4, _F2 = (f"bench_results/attention_cca_4k2_8k_s2048_ft80{s}.json" for s in ("_t4", ""))
_C80 = "bench_results/attention_cca_4k_8k_s2048_ft.json"

register(
    "cca-attention",
    status="experimental",
    extension="attention",
    entry="hf_tokens.attention.cca.attention:cca_attention",
    config="hf_tokens.attention.cca.config:CCAConfig",
    contract="hf_tokens.attention.cca.attention:contract",
    headline=Headline(
        "SmolLM2-135M, g=16, s=512: prefill tokens/s x{t8.ratio:.2f} of full attention (sdpa) at 8k tokens "
        "(x{t4.ratio:.2f} at 4k, x{t2.ratio:.2f} at 2k) but perplexity on held-out Jargon File text x{a8.ratio:.2f} "
        "adapted / x{z8.ratio:.2f} zero-shot at 8k (4k: x{a4.ratio:.2f} / x{z4.ratio:.2f}; 2k: x{a2.ratio:.2f} / "
        "x{z2.ratio:.2f}) after {a2.adapt_steps} adaptation steps x {a2.adapt_tokens} tokens (1 CPU thread); a "
        "local window of {w8.local_window} at 8k (same weights): x{w8.ratio:.2f} adapted / x{wz8.ratio:.2f} "
        "zero-shot at x{wt8.ratio:.2f} sdpa's tokens/s. Adapted instead at {l8.adapt_tokens} tokens with "
        "s={l8.local_window} ({l8.adapt_steps} steps, 2 threads): at 8k x{l8.ratio:.2f} at x{lt8.ratio:.2f} sdpa's "
        "tokens/s, with s={m8.local_window} x{m8.ratio:.2f} at x{mt8.ratio:.2f}; after {n8.adapt_steps} steps "
        "x{n8.ratio:.3f} at x{nt8.ratio:.2f}, with s={o8.local_window} x{o8.ratio:.3f} at x{ot8.ratio:.2f} "
        "(prefill within 5% and faster, against the pretrained model; on {f4.texts} texts x{f4.ratio:.3f} at "
        "x{ft4.ratio:.2f}, a {r2.texts}-text rerun x{rt2.ratio:.2f}: timings vary up to 20% between runs). Not met "
        "against sdpa fine-tuned {f4.finetuned_steps} steps on the same text (ppl x{fs4.ratio:.3f} of the "
        "pretrained): CCA x{c80.ratio:.2f} of its ppl after the same {c80.adapt_steps} steps, x{f4v.ratio:.2f} "
        "after {f4v.adapt_steps} (at x{f4t.ratio:.2f} its tokens/s); cached decoding at 8k level with sdpa: "
        "x{od8.ratio:.2f} (zero-shot, the same cost: x{ozd8.ratio:.2f}; s={n8.local_window}: x{nd8.ratio:.2f}); "
        "{a4.texts} texts per length unless stated",
        file="bench_results/attention_cca.json",
        rows={
            "a4": {"method": "cca-adapted", "metric": "ppl@4096"},
            "z4": {"method": "cca-zero-shot", "metric": "ppl@4096"},
            "a2": {"method": "cca-adapted", "metric": "ppl@2048"},
            "z2": {"method": "cca-zero-shot", "metric": "ppl@2048"},
            "t4": {"method": "cca-adapted", "metric": "prefill_tokens_per_s@4096"},
            "t2": {"method": "cca-adapted", "metric": "prefill_tokens_per_s@2048"},
            "a8": {"file": "bench_results/attention_cca_8k.json", "method": "cca-adapted", "metric": "ppl@8192"},
            "z8": {"file": "bench_results/attention_cca_8k.json", "method": "cca-zero-shot", "metric": "ppl@8192"},
            "t8": {
                "file": "bench_results/attention_cca_8k.json",
                "method": "cca-adapted",
                "metric": "prefill_tokens_per_s@8192",
            },
            "w8": {"file": _S2048, "method": "cca-adapted", "metric": "ppl@8192"},
            "wz8": {"file": _S2048, "method": "cca-zero-shot", "metric": "ppl@8192"},
            "wt8": {"file": _S2048, "method": "cca-adapted", "metric": "prefill_tokens_per_s@8192"},
            "l8": {"file": _L1024, "method": "cca-adapted", "metric": "ppl@8192"},
            "lt8": {"file": _L1024, "method": "cca-adapted", "metric": "prefill_tokens_per_s@8192"},
            "m8": {"file": _L2048, "method": "cca-adapted", "metric": "ppl@8192"},
            "mt8": {"file": _L2048, "method": "cca-adapted", "metric": "prefill_tokens_per_s@8192"},
            "n8": {"file": _N1024, "method": "cca-adapted", "metric": "ppl@8192"},
            "nt8": {"file": _N1024, "method": "cca-adapted", "metric": "prefill_tokens_per_s@8192"},
            "nd8": {"file": _N1024, "method": "cca-adapted", "metric": "decode_tokens_per_s@8192"},
            "o8": {"file": _N2048, "method": "cca-adapted", "metric": "ppl@8192"},
            "ot8": {"file": _N2048, "method": "cca-adapted", "metric": "prefill_tokens_per_s@8192"},
            "od8": {"file": _N2048, "method": "cca-adapted", "metric": "decode_tokens_per_s@8192"},
            "ozd8": {"file": _N2048, "method": "cca-zero-shot", "metric": "decode_tokens_per_s@8192"},
            "f4": {"file": _F4, "method": "cca-adapted", "metric": "ppl@8192", "baseline": "sdpa"},
            "ft4": {"file": _F4, "method": "cca-adapted", "metric": "prefill_tokens_per_s@8192", "baseline": "sdpa"},
            "fs4": {"file": _F4, "method": "sdpa-finetuned", "metric": "ppl@8192"},
            "f4v": {"file": _F4, "method": "cca-adapted", "metric": "ppl@8192", "baseline": "sdpa-finetuned"},
            "f4t": {
                "file": _F4,
                "method": "cca-adapted",
                "metric": "prefill_tokens_per_s@8192",
                "baseline": "sdpa-finetuned",
            },
            "r2": {"file": _F2, "method": "cca-adapted", "metric": "ppl@8192", "baseline": "sdpa"},
            "rt2": {"file": _F2, "method": "cca-adapted", "metric": "prefill_tokens_per_s@8192", "baseline": "sdpa"},
            "c80": {"file": _C80, "method": "cca-adapted", "metric": "ppl@8192", "baseline": "sdpa-finetuned"},
        },
    ),
    benchmark=(
        "python benchmarks/attention_cca.py --steps 147 --seconds 4000 --train-tokens 1024 --lr 5e-5 "
        "--lengths 2048 --texts 2 --save .cache/cca-smollm2 && python benchmarks/attention_cca.py --adapted "
        ".cache/cca-smollm2 --lengths 2048 4096 --texts 2 --json bench_results/attention_cca.json && python "
        "benchmarks/attention_cca.py --adapted .cache/cca-smollm2 --lengths 8192 --texts 2 --json "
        "bench_results/attention_cca_8k.json && python benchmarks/attention_cca.py --adapted .cache/cca-smollm2 "
        "--lengths 8192 --texts 2 --local-window 2048 --json bench_results/attention_cca_8k_s2048.json; "
        "adapted at 4096 tokens: python benchmarks/attention_cca.py --threads 2 --steps 80 --seconds 3300 "
        "--train-tokens 4096 --local-window 1024 --lr 5e-5 --train-corpora python-stdlib dpkg-changelog man-en "
        "fortunes --lengths 8192 --texts 2 --save .cache/cca-smollm2-4k --json bench_results/attention_cca_4k_8k.json "
        "&& python benchmarks/attention_cca.py --threads 2 --adapted .cache/cca-smollm2-4k --lengths 8192 --texts 2 "
        "--local-window 2048 --json bench_results/attention_cca_4k_8k_s2048.json"
        "; continued: python benchmarks/attention_cca.py --threads 2 --init-from .cache/cca-smollm2-4k --train-seed 1 "
        "--train-corpora python-stdlib man-en fortunes --steps 80 --seconds 3300 --train-tokens 4096 "
        "--local-window 1024 --lr 5e-5 --lengths 8192 --texts 2 --save .cache/cca-smollm2-4k2, then --adapted "
        ".cache/cca-smollm2-4k2 --lengths 8192 --texts 2 with --local-window 1024 / 2048 --json "
        "bench_results/attention_cca_4k2_8k.json / bench_results/attention_cca_4k2_8k_s2048.json"
        "; sdpa control: the first command of the 4096-token run with --train-attn sdpa --seconds 6000 --lengths 512 "
        "--texts 1 --decode-tokens 0 --save .cache/sdpa-smollm2-4k, then --adapted .cache/cca-smollm2-4k2 (or "
        ".cache/cca-smollm2-4k) --finetuned-sdpa .cache/sdpa-smollm2-4k --lengths 8192 --texts 4 (2; 2) "
        "--local-window 2048 --decode-tokens 0 --json bench_results/attention_cca_4k2_8k_s2048_ft80_t4.json "
        "(attention_cca_4k2_8k_s2048_ft80.json; attention_cca_4k_8k_s2048_ft.json)"
        "  # first command: the continued training, 2512 s on 1 thread (+ a 2k check); 147 steps: the most "
        "distinct 1024-token chunks the licences corpus gives"
    ),
    usage=(
        "from hf_tokens.attention.cca import CCAConfig, register_cca_attention\n"
        "key = register_cca_attention()  # 'hf_tokens_cca'\n"
        "model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=key,\n"
        "                                             **CCAConfig(group_size=16, local_window=256).to_model_kwargs())"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CCAConfig": ".config",
        "cca_attention": ".attention",
        "cca_attention_op": ".attention",
        "cca_forward": ".attention",
        "register_cca_attention": ".attention",
        "KEY": ".attention",
    },
)
