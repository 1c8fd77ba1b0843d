"""Lexinvariant language models (arXiv:2305.16349): per-sequence random Gaussian token embeddings. See
:mod:`.modeling`."""

from hf_tokens.models import TOKEN_FREE_MODELS_BENCHMARK
from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "lexinvariant",
    status="experimental",
    extension="models",
    entry="hf_tokens.models.lexinvariant.modeling:LexinvariantForCausalLM",
    config="hf_tokens.models.lexinvariant.modeling:LexinvariantConfig",
    contract="hf_tokens.models.lexinvariant.modeling:contract",
    headline=Headline(
        "toy scale (500 steps, {p0.n_seeds} seeds): bits/byte x{p0.ratio:.2f} of a byte LM at context 0-16, "
        "x{p2.ratio:.2f} at 64-256; on a letter cipher {x.value:+.1%} (byte LM {y.value:+.0%})",
        file="bench_results/token_free_models_seeds.json",
        rows={
            "p0": {"method": "lexinvariant", "metric": "bpb_at_context_0-16"},
            "p2": {"method": "lexinvariant", "metric": "bpb_at_context_64-256"},
            "x": {"method": "lexinvariant", "metric": "bpb_cipher_change"},
            "y": {"method": "bytes", "metric": "bpb_cipher_change"},
        },
    ),
    benchmark=TOKEN_FREE_MODELS_BENCHMARK,
    package="hf_tokens.models.lexinvariant",
    usage=(
        "from hf_tokens.models.lexinvariant import LexinvariantConfig, LexinvariantForCausalLM\n"
        "model = LexinvariantForCausalLM(LexinvariantConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2,\n"
        "                                                   num_attention_heads=4, intermediate_size=256))\n"
        "out = model(ids, labels=ids)  # training: a fresh random embedding matrix per sequence\n"
        "model.eval(); model.generate(ids, max_new_tokens=8)  # eval: one seeded matrix per row"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {"LexinvariantConfig": ".modeling", "LexinvariantForCausalLM": ".modeling", "random_embeddings": ".modeling"},
)
