"""Dynamic tokenization (arXiv:2411.18553): batch-level BPE, predicted embeddings, prefilling and encoder pooling."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.testing import tiny_model, tiny_tokenizer
from hf_tokens.tokenizers.dynamic.apply import continuation_nll, mean_pooled, predicted_rows
from hf_tokens.tokenizers.dynamic.merges import batch_bpe, word_ids
from hf_tokens.tokenizers.dynamic.predictor import EmbeddingPredictor, MeanPiecesPredictor

TEXTS = [
    "The quick brown fox jumps over the lazy dog. The dogmatic foxes jumped 1234 times!",
    "Foxes and dogs:  the quickest brownies,\n\tthe lazier dogs; def quick_fox(x): return x",
    "Émile's café serves naïve jumpers — quickly, quickly.",
]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.mark.parametrize("merges", [1, 5, 40, None])
def test_merges_stay_within_words_and_decode_to_the_same_text(tok, merges):
    batch = batch_bpe(tok, TEXTS, merges=merges)
    assert batch.merges, "the batch has repeated pairs, so some merge must happen"
    assert merges is None or len(batch.merges) <= merges
    for i, text in enumerate(TEXTS):
        assert batch.expand(batch.sequences[i]) == batch.original[i]
        assert batch.decode(tok, i) == tok.decode(batch.original[i]) == text
        ids, wids = word_ids(tok, text)
        position = 0
        for token in batch.sequences[i]:  # every dynamic token covers original tokens of exactly one word
            width = 1 if token < batch.base_vocab_size else len(batch.decompositions[token - batch.base_vocab_size])
            assert len(set(wids[position : position + width])) == 1, "a merge crossed a word boundary"
            position += width
        assert position == len(ids)
    assert batch.dynamic_length < batch.original_length


def test_no_merge_crosses_a_space(tok):
    batch = batch_bpe(tok, TEXTS)
    assert batch.decompositions
    for pieces in batch.decompositions:
        inner = tok.decode(list(pieces)).strip()
        assert not any(ch.isspace() for ch in inner), f"merged token {inner!r} spans two words"


def test_zero_merges_is_the_original_tokenization(tok):
    batch = batch_bpe(tok, TEXTS, merges=0)
    assert batch.sequences == batch.original == [tok(t, add_special_tokens=False).input_ids for t in TEXTS]
    assert batch.decompositions == [] and batch.length_reduction == 0.0


def test_target_reduction_stops_early(tok):
    full = batch_bpe(tok, TEXTS)
    part = batch_bpe(tok, TEXTS, target_reduction=0.2)
    assert part.dynamic_length <= 0.8 * part.original_length
    assert part.length_reduction < full.length_reduction
    assert len(part.merges) < len(full.merges)


def test_most_frequent_pair_is_merged_first(tok):
    texts = ["abab abab abab xy", "abab"]
    batch = batch_bpe(tok, texts, merges=1)
    first = batch.merges[0]
    assert tok.decode(list(first[0] + first[1])) in {"ab", " ab"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"merges": -1}, "merges"), ({"target_reduction": 1.5}, "target_reduction"), ({"min_frequency": 0}, "min_freq")],
)
def test_bad_arguments(tok, kwargs, match):
    with pytest.raises(ValueError, match=match):
        batch_bpe(tok, TEXTS, **kwargs)


def test_empty_batch(tok):
    with pytest.raises(ValueError, match="texts"):
        batch_bpe(tok, [])


def test_mean_predictor_rows_and_protocol():
    torch.manual_seed(0)
    model = tiny_model("llama")
    predictor = MeanPiecesPredictor(model)
    assert isinstance(predictor, EmbeddingPredictor)
    emb_in, emb_out = predictor.predict([[3, 5], [7]])
    weight = model.get_input_embeddings().weight
    torch.testing.assert_close(emb_in[0], (weight[3] + weight[5]) / 2)
    torch.testing.assert_close(emb_out[1], model.get_output_embeddings().weight[7])
    with pytest.raises(ValueError, match="decomposition"):
        predictor.predict([[10**6]])


def test_prefill_with_zero_merges_equals_the_plain_model(tok):
    torch.manual_seed(0)
    model = tiny_model("llama").eval()
    prefixes, conts = TEXTS, [tok(" and so on.", add_special_tokens=False).input_ids] * len(TEXTS)
    batch = batch_bpe(tok, prefixes, merges=0)
    nll = continuation_nll(model, batch, conts, MeanPiecesPredictor(model))
    for i, prefix in enumerate(batch.original):
        ids = torch.tensor([prefix + conts[i]])
        with torch.no_grad():
            logits = model(ids).logits[0, len(prefix) - 1 : -1]
        expected = torch.nn.functional.cross_entropy(logits, torch.tensor(conts[i]))
        assert nll[i] == pytest.approx(float(expected), rel=1e-5)
    merged = continuation_nll(model, batch_bpe(tok, prefixes), conts, MeanPiecesPredictor(model))
    assert all(torch.isfinite(torch.tensor(merged)))


class _WrongSize:
    def predict(self, decompositions):
        return torch.zeros(len(decompositions), 3), torch.zeros(len(decompositions), 3)


def test_predictor_of_the_wrong_size_is_rejected(tok):
    torch.manual_seed(0)
    model = tiny_model("llama")
    batch = batch_bpe(tok, TEXTS, merges=3)
    with pytest.raises(ValueError, match="shape"):
        predicted_rows(model, batch, _WrongSize())
    with pytest.raises(TypeError, match="predict"):
        predicted_rows(model, batch, object())  # type: ignore[arg-type]


def test_encoder_pooling_with_zero_merges_matches_plain_ids(minilm):
    model, tokenizer = minilm
    texts = ["a short sentence about dogs", "another one about quickly jumping foxes"]
    batch = batch_bpe(tokenizer, texts, merges=0)
    pooled = mean_pooled(model, batch, MeanPiecesPredictor(model))
    with torch.no_grad():
        plain = model(torch.tensor([batch.original[0]])).last_hidden_state[0].mean(0)
    torch.testing.assert_close(pooled[0], plain, rtol=1e-5, atol=1e-5)
    merged = batch_bpe(tokenizer, ["detokenization of retokenized tokenization", "retokenized detokenization"])
    assert merged.length_reduction > 0
    assert [merged.decode(tokenizer, i) for i in range(2)] == [tokenizer.decode(o) for o in merged.original[:2]]


def test_exhaustive_index_with_no_dynamic_tokens_is_greedy_generation(tok):
    from hf_tokens.tokenizers.dynamic.generate import generate_dynamic

    torch.manual_seed(0)
    model = tiny_model("llama").eval()
    prompt = tok("The quick brown fox", add_special_tokens=False).input_ids
    ids, steps = generate_dynamic(model, prompt, [], MeanPiecesPredictor(model), max_steps=8, n_lists=4, n_probe=4)
    with torch.no_grad():
        ref = model.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False, min_new_tokens=8)
    assert steps == 8 and ids == ref[0, len(prompt) :].tolist()


def test_dynamic_vocabulary_can_emit_several_tokens_per_step(tok):
    from hf_tokens.tokenizers.dynamic.generate import OutputIndex, generate_dynamic

    torch.manual_seed(0)
    model = tiny_model("llama").eval()
    prompt = tok("The quick brown fox", add_special_tokens=False).input_ids
    with torch.no_grad():
        greedy = model.generate(torch.tensor([prompt]), max_new_tokens=2, do_sample=False, min_new_tokens=2)
    first_two = greedy[0, len(prompt) :].tolist()

    class Boosted(MeanPiecesPredictor):  # the merged token's output row dominates every other row
        def predict(self, decompositions):
            emb_in, emb_out = super().predict(decompositions)
            return emb_in, emb_out * 0 + 1e3 * model.get_output_embeddings().weight[first_two[0]]

    ids, steps = generate_dynamic(model, prompt, [first_two], Boosted(model), max_steps=1, n_lists=2, n_probe=2)
    assert steps == 1 and ids == first_two
    weight = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    query = torch.randn(8, generator=torch.Generator().manual_seed(1))
    assert OutputIndex(weight, n_lists=5, n_probe=5).search(query) == int((weight @ query).argmax())
    with pytest.raises(ValueError, match="n_probe"):
        OutputIndex(weight, n_lists=5, n_probe=6)


def test_special_tokens_are_never_merged(smollm2):
    _, tokenizer = smollm2
    text = "<|im_start|>user\nParis.<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>"
    batch = batch_bpe(tokenizer, [text, text])
    special = set(tokenizer.all_special_ids)
    assert all(not special & set(pieces) for pieces in batch.decompositions)
    assert batch.decode(tokenizer, 0) == text
