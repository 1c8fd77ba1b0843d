"""Landmark attention (Mohtashami & Jaggi, "Landmark Attention: Random-Access Infinite Context Length for
Transformers", arXiv 2305.16300) as ``hf_tokens_landmark``.

A landmark token closes every block of ``block_size`` tokens. In training a query attends to its own block
directly and to every earlier block through that block's landmark: the grouped softmax puts the own block's tokens
and the earlier landmarks in one softmax, and spreads each landmark's weight over its block by a softmax inside the
block. At inference (``top_k > 0``) each query and head keeps only the ``top_k`` blocks whose landmarks score
highest, so a step attends to at most ``top_k`` blocks + its own block however long the context.

Files: ``config.py`` (:class:`LandmarkAttentionConfig`, ``landmark_*`` model-config attributes), ``reference.py``
(PyTorch: training path, retrieval, the oracle), ``retrieval.py`` (the bounded one-token step), ``triton.py``
(forward kernel of the grouped softmax), ``attention.py`` (the transformers attention function, the op and the
contract), ``finetune.py`` (the paper's recipe that inserts landmarks into a pretrained model: ``<landmark>`` token,
grouped-softmax fine-tuning), ``cache.py`` (:class:`LandmarkCache`: keeps every block, retrieves the top-k blocks per
query head inside sdpa's call), ``generation.py`` (landmark insertion hooks so ``model.generate`` works with the
cache), ``passkey.py`` / ``data.py`` (the synthetic passkey task and the data layout).

Deviations from the paper: the block layout comes from positions among each row's real keys (landmarks must sit
at every ``block_size + 1``-th position, as the paper's data pipeline puts them) rather than from token ids;
retrieval is computed inside the attention function from the whole cache (the cache keeps every block, the query
scores every landmark and attends to the kept blocks with the grouped softmax restricted to them) rather than the
paper's offloaded memory with a separate landmark index; no attention dropout; the Triton kernel is forward-only
and has no retrieval. The fine-tuning recipe and the cache name their own deviations (``finetune.py``, ``cache.py``).
"""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_PASSKEY = "bench_results/landmark_smollm2_passkey.json"  # benchmarks/landmark_smollm2.py --passkey-only
_TOY = "bench_results/attention_landmark.json"  # the from-scratch passkey model of benchmarks/attention_landmark.py

register(
    "landmark-attention",
    status="experimental",
    extension="attention",
    entry="hf_tokens.attention.landmark.attention:landmark_attention",
    config="hf_tokens.attention.landmark.config:LandmarkAttentionConfig",
    contract="hf_tokens.attention.landmark.attention:contract",
    headline=Headline(
        "SmolLM2-135M fine-tuned with landmarks ({k.train_steps} steps x {k.train_length} tokens, blocks of "
        "{k.block_size} + landmark, {k.train_weights} weights, {k.train_minutes:.0f} min on 1 CPU thread): "
        "perplexity of 3 held-out texts x{o.ratio:.2f} the original model's (full sdpa attention) at 1x that length, "
        "x{k.ratio:.2f} at 8x ({k.value:.1f} vs {k.baseline_value:.1f}) with top-4 block retrieval, x{a.ratio:.2f} "
        "attending every block; "
        "a decoding step at 8x reads {t.ratio:.0%} of the keys; passkey ({m.samples} samples) {m1.value:.0%} at 1x, "
        "{m.value:.0%} at 2x and {m4.value:.0%} at 4x (every block: {a1.value:.0%} at 1x) vs {n.value:.0%} / "
        "{n4.value:.0%} for the original at 2x / 4x; the same fine-tuned weights with full attention and no "
        "landmarks: {d4.value:.0%} at 4x (the landmark routing learnt in those steps loses the key, not the "
        "weights). Toy (2x64 Llama from scratch, synthetic passkey, "
        "420 s): passkey at 4x the training length {p.value:.0%} with top-2 retrieval reading {q.ratio:.0%} of the "
        "keys (every block {b.value:.0%})",
        file="bench_results/landmark_smollm2.json",
        rows={
            "k": {"method": "landmark-top4", "metric": "ppl@8x"},
            "a": {"method": "landmark-all-blocks", "metric": "ppl@8x"},
            "o": {"method": "landmark-top4", "metric": "ppl@1x"},
            "t": {"method": "landmark-top4", "metric": "attended@8x"},
            "m": {"file": _PASSKEY, "method": "landmark-top4", "metric": "passkey_acc@2x"},
            "n": {"file": _PASSKEY, "method": "sdpa (original SmolLM2)", "metric": "passkey_acc@2x"},
            "m4": {"file": _PASSKEY, "method": "landmark-top4", "metric": "passkey_acc@4x"},
            "m1": {"file": _PASSKEY, "method": "landmark-top4", "metric": "passkey_acc@1x"},
            "a1": {"file": _PASSKEY, "method": "landmark-all-blocks", "metric": "passkey_acc@1x"},
            "d4": {"file": _PASSKEY, "method": "landmark-tuned weights, full sdpa", "metric": "passkey_acc@4x"},
            "n4": {"file": _PASSKEY, "method": "sdpa (original SmolLM2)", "metric": "passkey_acc@4x"},
            "p": {"file": _TOY, "method": "landmark-top2", "metric": "passkey_acc@4x"},
            "b": {"file": _TOY, "method": "landmark-all-blocks", "metric": "passkey_acc@4x"},
            "q": {"file": _TOY, "method": "landmark-top2", "metric": "attended@4x"},
        },
    ),
    benchmark=(
        "python benchmarks/landmark_smollm2.py --stage train --steps 300 --warmup 10 --lr 1e-4 --train all "
        "--seconds 2400 --save .cache/landmark-smollm2 && python benchmarks/landmark_smollm2.py --stage eval "
        "--json bench_results/landmark_smollm2.json  # passkey: --stage eval --passkey-only --passkey 8 "
        "--passkey-mults 1 2 4 --arms sdpa topk all tuned-sdpa --json bench_results/landmark_smollm2_passkey.json; "
        "toy: python benchmarks/attention_landmark.py --steps 822 --seconds 100000 "
        "--json bench_results/attention_landmark.json"
    ),
    usage=(
        "from hf_tokens.attention.landmark import LandmarkAttentionConfig, register_landmark_attention\n"
        "key = register_landmark_attention()  # 'hf_tokens_landmark'\n"
        "config = LlamaConfig(..., **LandmarkAttentionConfig(block_size=31).to_model_kwargs())\n"
        "model = AutoModelForCausalLM.from_config(config, attn_implementation=key)  # train on landmark-laid data\n"
        "model.config.landmark_top_k = 2  # inference: retrieve 2 blocks per query and head\n"
        "# a pretrained model: add_landmark_token + finetune_landmarks (hf_tokens.attention.landmark.finetune), then\n"
        "from hf_tokens.attention.landmark import LandmarkCache, enable_landmark_insertion\n"
        "model.set_attn_implementation('sdpa'); enable_landmark_insertion(model)\n"
        "model.generate(**inputs, cache=LandmarkCache(model.config, top_k=4), max_new_tokens=32)"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LandmarkAttentionConfig": ".config",
        "landmark_attention": ".attention",
        "landmark_attention_op": ".attention",
        "register_landmark_attention": ".attention",
        "KEY": ".attention",
        "LandmarkCache": ".cache",
        "LandmarkCacheConfig": ".cache",
        "enable_landmark_insertion": ".generation",
        "disable_landmark_insertion": ".generation",
        "add_landmark_token": ".finetune",
        "finetune_landmarks": ".finetune",
    },
)
