"""The shared token-tree machinery: tree mask + positions, cache rollback, acceptance rules (incl. chi-square)."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache, StaticCache

from hf_tokens.generation.tree import accept as accept_mod
from hf_tokens.generation.tree.accept import accept_greedy_argmax, sample_with_candidates
from hf_tokens.generation.tree.template import best_first_template, expected_accepted
from hf_tokens.generation.tree.tree import TokenTree, TreeShape
from hf_tokens.generation.tree.verify import TreeVerifier, check_cache
from hf_tokens.testing import tiny_model

PARENTS = (-1, 0, 0, 1, 1, 2, 3, 3, 6, 5)  # branching at several depths, leaves at depths 2..4


def _tree(vocab: int, seed: int = 0) -> TokenTree:
    g = torch.Generator().manual_seed(seed)
    return TokenTree.from_parents(torch.randint(2, vocab, (len(PARENTS),), generator=g).tolist(), PARENTS)


def _prefix(vocab: int, n: int = 12) -> torch.Tensor:
    return torch.randint(2, vocab, (1, n), generator=torch.Generator().manual_seed(1))


def _cache(kind: str, model):
    if kind == "dynamic":
        return DynamicCache(config=model.config)
    return StaticCache(config=model.config, max_cache_len=64)


def test_tree_shape_structure_and_bad_parents():
    shape = TreeShape(PARENTS)
    assert shape.depth == (0, 1, 1, 2, 2, 2, 3, 3, 4, 3)
    assert shape.path_to(8) == [0, 1, 3, 6, 8]
    anc = shape.ancestors()
    assert anc[8].nonzero().flatten().tolist() == [0, 1, 3, 6, 8]
    assert sorted(shape.leaves()) == [4, 7, 8, 9]
    for bad in [(0, 0), (-1, 1), (-1, 0, 5)]:
        with pytest.raises(ValueError, match="parents"):
            TreeShape(bad)
    with pytest.raises(ValueError, match="tokens"):
        TokenTree(shape, [1, 2])


def test_from_paths_adds_prefixes_and_orders_bfs():
    shape, keys = TreeShape.from_paths([(0, 1), (1,), (0, 0, 0)])
    assert keys == [(), (0,), (1,), (0, 0), (0, 1), (0, 0, 0)]
    assert shape.parents == (-1, 0, 0, 1, 1, 3)


def test_trim_keeps_a_valid_subtree():
    tree = _tree(300)
    small = tree.trim(max_depth=2, max_nodes=5)
    assert small.shape.parents == (-1, 0, 0, 1, 1) and small.tokens == tree.tokens[:5]
    deep = tree.trim(max_depth=1, max_nodes=99)
    assert deep.shape.parents == (-1, 0, 0) and deep.tokens == tree.tokens[:3]
    assert tree.trim(max_depth=9, max_nodes=99) is tree


@pytest.mark.parametrize("arch", ["llama", "qwen2", "mistral", "gpt2"])
@pytest.mark.parametrize("kind", ["dynamic", "static"])
def test_tree_forward_equals_plain_forward_of_every_path(arch, kind):
    """Each root-to-leaf path's logits from one tree forward equal a plain causal forward of prefix + path."""
    model = tiny_model(arch)
    vocab = model.config.vocab_size
    prefix, tree = _prefix(vocab), _tree(vocab)
    cache = _cache(kind, model)
    with torch.no_grad():
        model(input_ids=prefix, cache=cache, use_cache=True)
        verifier = TreeVerifier(model, cache, max_nodes=len(tree), width=64)
        verifier.prefix(prefix.shape[1])
        logits = verifier.forward(tree)
        for leaf in tree.shape.leaves():
            path = tree.shape.path_to(leaf)
            ids = torch.cat([prefix, torch.tensor([[tree.tokens[i] for i in path]])], dim=1)
            plain = model(input_ids=ids).logits[0, prefix.shape[1] :]
            torch.testing.assert_close(logits[path], plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("kind", ["dynamic", "static"])
def test_rollback_leaves_the_cache_of_the_accepted_path(arch, kind):
    """After commit(path), the next token's logits equal those of a plain forward over prefix + path."""
    model = tiny_model(arch)
    vocab = model.config.vocab_size
    prefix, tree = _prefix(vocab), _tree(vocab, seed=4)
    path = tree.shape.path_to(8)  # [0, 1, 3, 6, 8]: not a prefix of the node order, so slots must move
    cache = _cache(kind, model)
    nxt = torch.tensor([[7]])
    with torch.no_grad():
        model(input_ids=prefix, cache=cache, use_cache=True)
        verifier = TreeVerifier(model, cache, max_nodes=len(tree), width=64)
        verifier.prefix(prefix.shape[1])
        verifier.forward(tree)
        verifier.commit(path, len(tree))
        assert int(cache.get_seq_length()) == prefix.shape[1] + len(path)
        # One more (single-node) step through the verifier sees exactly prefix + path.
        got = verifier.forward(TokenTree.chain([7]))[0]
        ids = torch.cat([prefix, torch.tensor([[tree.tokens[i] for i in path]]), nxt], dim=1)
        want = model(input_ids=ids).logits[0, -1]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_check_cache_refuses_caches_that_cannot_roll_back():
    from transformers import LlamaConfig

    class EvictingCache(DynamicCache):
        pass

    with pytest.raises(ValueError, match="DynamicCache or StaticCache"):
        check_cache(EvictingCache())
    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=8,
        layer_types=["sliding_attention", "full_attention"],
    )
    with pytest.raises(ValueError, match="sliding"):
        check_cache(DynamicCache(config=config))
    check_cache(DynamicCache())  # plain caches pass


def test_greedy_acceptance_walks_the_longest_agreeing_path():
    tree = TokenTree.from_parents([10, 11, 12, 13, 14], [-1, 0, 0, 1, 2])
    # node 0 predicts 12 (child 2), node 2 predicts 14 (child 4), node 4 predicts 99 (no child): bonus 99
    path, tokens = accept_greedy_argmax(tree, [12, 0, 14, 0, 99])
    assert path == [0, 2, 4] and tokens == [12, 14, 99]
    path, tokens = accept_greedy_argmax(tree, [5, 0, 0, 0, 0])
    assert path == [0] and tokens == [5]


def _chi2_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Pearson chi-square goodness of fit; bins with tiny expectation are pooled."""
    n = counts.sum()
    expected = probs * n
    big = expected >= 5
    obs = torch.cat([counts[big], counts[~big].sum().view(1)]).double()
    exp = torch.cat([expected[big], expected[~big].sum().view(1)]).double()
    keep = exp > 0
    obs, exp = obs[keep], exp[keep]
    stat = ((obs - exp) ** 2 / exp).sum()
    dof = len(obs) - 1
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64), stat / 2))


def _draw(probs, candidates, n, seed):
    g = torch.Generator().manual_seed(seed)
    counts = torch.zeros_like(probs, dtype=torch.float64)
    for _ in range(n):
        token, _ = sample_with_candidates(probs, candidates, g)
        counts[token] += 1
    return counts


def test_sampling_rule_preserves_the_target_distribution_and_a_broken_rule_is_caught(monkeypatch):
    probs = torch.tensor([0.05, 0.30, 0.02, 0.25, 0.08, 0.20, 0.10])
    candidates = [3, 0, 6]  # includes a low-probability and a mid-probability candidate
    counts = _draw(probs, candidates, 6000, seed=0)
    assert _chi2_pvalue(counts, probs) > 1e-3
    # Broken rule: forget to remove a rejected candidate from the residual (biases towards candidates).
    monkeypatch.setattr(accept_mod, "residual", lambda p, token: p.clone())
    broken = _draw(probs, candidates, 6000, seed=0)
    assert _chi2_pvalue(broken, probs) < 1e-6


def test_best_first_template_maximises_expected_acceptance():
    probs = (0.5, 0.2, 0.1)
    paths = best_first_template(6, probs)
    assert paths[:3] == [(0,), (0, 0), (1,)]
    for p in paths:  # prefix-closed
        assert all(p[:d] in paths for d in range(1, len(p)))
    # greedy choice beats any other prefix-closed 6-node tree on this model, e.g. a chain or a flat fan
    assert expected_accepted(paths, probs) >= expected_accepted([(0,), (0, 0), (0, 0, 0), (0, 0, 0, 0)], probs)
    assert expected_accepted(paths, probs) >= expected_accepted([(0,), (1,), (2,)], probs)
    with pytest.raises(ValueError, match="rank_probs"):
        best_first_template(3, [1.5])
