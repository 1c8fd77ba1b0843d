"""The one offline corpus of benchmarks/token_free.py: several domains of hf_tokens.assets.text, a fixed held-out
split (chunks never used for training, by any arm)."""

from __future__ import annotations

DOMAINS = ("fortunes", "jargon", "python-stdlib", "licenses")


def corpus(train_chars: int, test_chars: int, *, chunk: int = 2000, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(train, test)`` lists of ``chunk``-character slices, the same number from every domain; the test chunks are
    drawn first and disjoint from the training chunks."""
    from hf_tokens.assets.text import text_chunks

    n_test = max(1, test_chars // (chunk * len(DOMAINS)))
    n_train = max(1, train_chars // (chunk * len(DOMAINS)))
    train, test = [], []
    for name in DOMAINS:
        chunks = text_chunks(name, n_test + n_train, chunk, seed=seed)
        test += chunks[:: max(1, (n_test + n_train) // n_test)][:n_test]
        train += [c for c in chunks if c not in test]
    return train, test
