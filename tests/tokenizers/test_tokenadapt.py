"""TokenAdapt's hybrid heuristic: local (length + semantic weighted subtokens) and global (top-k neighbours)."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.testing import tiny_model
from hf_tokens.tokenizers import transplant
from hf_tokens.tokenizers.tokenadapt import TokenAdaptConfig, TokenAdaptConverter
from hf_tokens.tokenizers.tokenadapt.initializer import TokenAdaptInitializer
from hf_tokens.tokenizers.transplantation import build_context


def _setup(tokenizer, other_tokenizer, fake_encoder, **options):
    model = tiny_model("llama")
    init = TokenAdaptInitializer(encoder=fake_encoder, **options)
    new_model, _ = transplant(model, tokenizer, other_tokenizer, init)
    ctx = build_context(model, tokenizer, other_tokenizer)
    return model, new_model, ctx


def _phi(fake_encoder, vocab, ids):
    return fake_encoder.embed([vocab.text(i) for i in ids])


def _expected_local(ctx, fake_encoder, r, temperature=0.3):
    new_id, ids = ctx.missing[r], ctx.decompositions()[r]
    phi_new = _phi(fake_encoder, ctx.new_vocab, [new_id])[0]
    phi_sub = _phi(fake_encoder, ctx.old_vocab, ids)
    semantic = torch.softmax(phi_sub @ phi_new / temperature, 0)
    full = len(ctx.new_vocab.surfaces[new_id])
    length = torch.tensor([len(ctx.old_vocab.surfaces[i]) / full for i in ids])
    return ids, torch.softmax((semantic + length) / 2 / temperature, 0)


def _expected_global(ctx, fake_encoder, r, k=3, temperature=0.3):
    candidates = [i for i in range(len(ctx.old_vocab)) if i not in ctx.old_vocab.special]
    phi_old = _phi(fake_encoder, ctx.old_vocab, candidates)
    sims = phi_old @ _phi(fake_encoder, ctx.new_vocab, [ctx.missing[r]])[0]
    top = sims.topk(k)
    return [candidates[j] for j in top.indices.tolist()], torch.softmax(top.values / temperature, 0)


def test_local_estimate_is_length_and_similarity_weighted(tokenizer, other_tokenizer, fake_encoder):
    model, new_model, ctx = _setup(tokenizer, other_tokenizer, fake_encoder, global_weight=0.0)
    old, new = model.get_input_embeddings().weight, new_model.get_input_embeddings().weight
    multi = [r for r, ids in enumerate(ctx.decompositions()) if len(ids) > 1]
    assert multi, "some new tokens must split into several old tokens"
    for r in multi[:10]:
        ids, w = _expected_local(ctx, fake_encoder, r)
        assert torch.allclose(new[ctx.missing[r]], (w[:, None] * old[ids]).sum(0), atol=1e-5)
        assert not torch.allclose(w, torch.full_like(w, 1 / len(ids))), "weights must not be uniform"


def test_global_estimate_is_top_k_softmax(tokenizer, other_tokenizer, fake_encoder):
    model, new_model, ctx = _setup(tokenizer, other_tokenizer, fake_encoder, global_weight=1.0, top_k=3)
    old, new = model.get_input_embeddings().weight, new_model.get_input_embeddings().weight
    for r in range(min(10, len(ctx.missing))):
        ids, w = _expected_global(ctx, fake_encoder, r)
        assert torch.allclose(new[ctx.missing[r]], (w[:, None] * old[ids]).sum(0), atol=1e-5)


def test_hybrid_blends_with_the_mixing_weight(tokenizer, other_tokenizer, fake_encoder):
    model, new_model, ctx = _setup(tokenizer, other_tokenizer, fake_encoder)  # paper defaults: w=0.3, k=3, T=0.3
    old, new = model.get_input_embeddings().weight, new_model.get_input_embeddings().weight
    for r in range(min(10, len(ctx.missing))):
        lid, lw = _expected_local(ctx, fake_encoder, r)
        gid, gw = _expected_global(ctx, fake_encoder, r)
        expected = 0.7 * (lw[:, None] * old[lid]).sum(0) + 0.3 * (gw[:, None] * old[gid]).sum(0)
        assert torch.allclose(new[ctx.missing[r]], expected, atol=1e-5)


def test_similarity_threshold_drops_global_neighbours(tokenizer, other_tokenizer, fake_encoder):
    # with an unreachable threshold no neighbour survives, so TokenAdapt falls back to the local estimate alone
    # (except tokens whose text equals an old token's up to case: similarity 1, kept)
    _, local_only, ctx = _setup(tokenizer, other_tokenizer, fake_encoder, global_weight=0.0)
    _, thresholded, _ = _setup(tokenizer, other_tokenizer, fake_encoder, similarity_threshold=1.0)
    _, hybrid, _ = _setup(tokenizer, other_tokenizer, fake_encoder)
    rows = [i for r, i in enumerate(ctx.missing) if _expected_global(ctx, fake_encoder, r)[0] and
            float((_phi(fake_encoder, ctx.old_vocab, _expected_global(ctx, fake_encoder, r)[0][:1]) @
                   _phi(fake_encoder, ctx.new_vocab, [i]).T).max()) < 0.999]  # fmt: skip
    assert len(rows) > len(ctx.missing) // 2
    a, b, c = (m.get_input_embeddings().weight[rows] for m in (local_only, thresholded, hybrid))
    assert torch.allclose(a, b) and not torch.allclose(a, c)


def test_max_aux_tokens_limits_the_encoder_calls(tokenizer, other_tokenizer, fake_encoder):
    model = tiny_model("llama")
    ctx = build_context(model, tokenizer, other_tokenizer)
    priority = ctx.missing[-1]
    init = TokenAdaptInitializer(encoder=fake_encoder, max_aux_tokens=3, priority_ids=[priority])
    rows = init._embedded_rows(ctx)
    assert len(rows) == 3 and ctx.missing.index(priority) in rows
    new_model, _ = transplant(model, tokenizer, other_tokenizer, init)
    assert torch.isfinite(new_model.get_input_embeddings().weight).all()


def test_config_defaults_and_validation():
    cfg = TokenAdaptConfig()
    assert (cfg.top_k, cfg.temperature, cfg.global_weight, cfg.similarity_threshold) == (3, 0.3, 0.3, 0.0)
    assert TokenAdaptConfig(**cfg.to_dict()) == cfg
    for bad in ({"top_k": 0}, {"temperature": -1}, {"global_weight": -0.1}, {"encoder": "bert"}, {"batch_size": 0}):
        with pytest.raises(ValueError):
            TokenAdaptConfig(**bad)
    with pytest.raises(ValueError, match="either config or options"):
        TokenAdaptInitializer(cfg, top_k=2)


def test_converter_and_registry(tokenizer, fake_encoder):
    from hf_tokens.registry import get

    spec = get("tokenadapt")
    assert spec.implemented and spec.extension == "tokenizers" and spec.card_kind == "tokenizer"
    assert spec.load("entry") is TokenAdaptConverter and spec.load("config") is TokenAdaptConfig
    convert = spec.load("contract")()["convert"]
    model = tiny_model("llama")
    new_model, _ = convert(model, tokenizer, tokenizer)
    ids = torch.tensor([tokenizer("Hello world!")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(new_model(ids).logits, model(ids).logits)


def test_embedding_cache_roundtrip(monkeypatch, tmp_path, minilm):
    from hf_tokens.tokenizers.tokenadapt import auxiliary

    monkeypatch.setattr(auxiliary, "cache_dir", lambda: tmp_path)
    encoder = auxiliary.AuxEncoder("minilm-l6", *minilm, batch_size=4)
    strings = [" the", "ing", " transplant", "Hello", " world"]
    first = encoder.embed(strings)
    assert len(list(tmp_path.glob("*.pt"))) == 1
    assert torch.allclose(first.norm(dim=1), torch.ones(5), atol=1e-2)
    calls = []
    monkeypatch.setattr(encoder, "_encode", lambda *a, **k: calls.append(1))
    assert torch.equal(encoder.embed(strings), first) and not calls
    # semantically close strings are closer than unrelated ones (what the global heuristic relies on)
    sims = first @ first.T
    assert sims[0, 1] < 0.99 and torch.isfinite(sims).all()


@pytest.mark.slow
def test_tokenadapt_beats_mean_on_real_model(smollm2, real_tokenizer):
    """The paper's claim, on SmolLM2 moved to the GPT-2 tokenizer: lower per-character loss than the mean init."""
    from hf_tokens.assets.text import text_chunks

    model, tok = smollm2
    gpt2 = real_tokenizer("gpt2")
    texts = text_chunks("fortunes", 6, 600, seed=1)

    def nll_per_char(m, t):
        total = chars = 0.0
        for text in texts:
            ids = torch.tensor([t(text, add_special_tokens=False)["input_ids"]])
            with torch.no_grad():
                loss = m(ids, labels=ids).loss
            total += float(loss) * (ids.shape[1] - 1)
            chars += len(text)
        return total / chars

    losses = {}
    for method in ("tokenadapt", "mean"):
        new_model, new_tok = transplant(model, tok, gpt2, method)
        losses[method] = nll_per_char(new_model, new_tok)
        del new_model
    assert losses["tokenadapt"] < losses["mean"], losses
