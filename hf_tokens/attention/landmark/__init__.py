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

register(
    "landmark-attention",
    status="experimental",
    extension="attention",
    entry="hf_tokens.attention.landmark.attention:landmark_attention",
    config="hf_tokens.attention.landmark.config:LandmarkAttentionConfig",
    contract="hf_tokens.attention.landmark.attention:contract",
    headline=Headline(
        "passkey accuracy at 4x the training length with top-2 block retrieval {a.value:.0%} (every block "
        "{b.value:.0%}, 1x {c.value:.0%}), the last query reading {t.ratio:.0%} of the keys; 2x64 Llama trained from "
        "scratch on a synthetic 1-digit passkey task (48 tokens, blocks of 7 + landmark, 822 steps = 420 s on 1 CPU "
        "thread), 64 samples",
        file="bench_results/attention_landmark.json",
        rows={
            "a": {"method": "landmark-top2", "metric": "passkey_acc@4x"},
            "b": {"method": "landmark-all-blocks", "metric": "passkey_acc@4x"},
            "c": {"method": "landmark-top2", "metric": "passkey_acc@1x"},
            "t": {"method": "landmark-top2", "metric": "attended@4x"},
        },
    ),
    benchmark=(
        "python benchmarks/attention_landmark.py --steps 822 --seconds 100000 "
        "--json bench_results/attention_landmark.json"
        "  # 822 steps = what 420 s gave; --save .cache/landmark-passkey-2x64 keeps the checkpoint + card"
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
