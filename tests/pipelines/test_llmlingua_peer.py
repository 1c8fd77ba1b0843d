"""The llmlingua peer's plumbing in benchmarks/compression.py and its worker (not the peer itself, which needs its
own interpreter): transformers-5 folders translated for transformers 4.x, the tiktoken cache name, the worker's
input/output checks and the probe comparison that guards against a silently different model."""

import json

import pytest
import torch

from benchmarks.compression import check_probe, read_peer_output
from benchmarks.compression_llmlingua_worker import (
    legacy_config,
    legacy_tokenizer_config,
    prepare_folder,
    read_jobs,
    tiktoken_cache_name,
)
from hf_tokens.pipelines.llmlingua2.pipeline import tiny_classifier
from hf_tokens.testing import tiny_model

SMOLLM2_V5 = {  # the fields of the SmolLM2 cache folder's config.json that matter here (written by transformers 5)
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "dtype": "float32",
    "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"},
}


def test_legacy_config_keeps_rope_theta():
    out = legacy_config(SMOLLM2_V5)
    assert out["rope_theta"] == 100000.0  # 4.x would silently fall back to 10000 without it
    assert out["rope_scaling"] is None and "rope_parameters" not in out
    assert out["torch_dtype"] == "float32" and "dtype" not in out
    scaled = legacy_config({"rope_parameters": {"rope_theta": 5e5, "rope_type": "llama3", "factor": 8.0}})
    assert scaled["rope_theta"] == 5e5 and scaled["rope_scaling"] == {"rope_type": "llama3", "factor": 8.0}
    assert legacy_config({"rope_theta": 1e4})["rope_theta"] == 1e4  # a 4.x config passes unchanged
    assert SMOLLM2_V5["rope_parameters"]["rope_theta"] == 100000.0  # the input is not modified


def test_legacy_tokenizer_config():
    out = legacy_tokenizer_config({"backend": "tokenizers", "tokenizer_class": "TokenizersBackend", "eos_token": "e"})
    assert out == {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "e"}
    assert legacy_tokenizer_config({"tokenizer_class": "BertTokenizer"}) == {"tokenizer_class": "BertTokenizer"}


def test_prepare_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text(json.dumps(SMOLLM2_V5))
    (src / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "TokenizersBackend"}))
    (src / "model.safetensors").write_bytes(b"weights")
    dst = prepare_folder(src, tmp_path / "llmlingua2-minilm-as-bert-base-multilingual-cased")
    assert json.loads((dst / "config.json").read_text())["rope_theta"] == 100000.0
    assert json.loads((dst / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert (dst / "model.safetensors").is_symlink() and (dst / "model.safetensors").read_bytes() == b"weights"
    prepare_folder(src, dst)  # idempotent
    with pytest.raises(ValueError, match=r"config\.json"):
        prepare_folder(tmp_path / "nothing", tmp_path / "out")


def test_tiktoken_cache_name():
    # the file name tiktoken's read_file_cached looks up for cl100k_base (sha1 of its download URL)
    assert tiktoken_cache_name() == "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"


def test_read_jobs(tmp_path):
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({"contexts": ["a b"], "rates": {"2x": 0.5}, "probe": "p"}))
    assert read_jobs(path)["rates"] == {"2x": 0.5}
    for bad in ({"contexts": [], "rates": {"2x": 0.5}, "probe": "p"}, {"contexts": ["a"], "rates": {"0x": 0}},
                {"contexts": ["a"], "rates": {"2x": 0.5}, "probe": ""}):  # fmt: skip
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match="jobs"):
            read_jobs(path)


def test_read_peer_output_needs_every_job(tmp_path):
    rates = {"2x": 0.5, "3x": 1 / 3}
    rows = [
        {"arm": "llmlingua1", "rate": r, "index": i, "compressed": "x", "seconds": 0.1, "own_rate": 0.5}
        for r in rates
        for i in range(2)
    ]
    path = tmp_path / "out.json"
    path.write_text(json.dumps({"versions": {}, "probe": {}, "results": rows}))
    assert len(read_peer_output(path, ["llmlingua1"], rates, 2)["results"]) == 4
    path.write_text(json.dumps({"versions": {}, "probe": {}, "results": rows[:-1]}))
    with pytest.raises(ValueError, match="expected 4"):
        read_peer_output(path, ["llmlingua1"], rates, 2)
    path.write_text(json.dumps({"versions": {}, "probe": {}, "results": [*rows[:-1], {**rows[-1], "seconds": -1}]}))
    with pytest.raises(ValueError, match="malformed"):
        read_peer_output(path, ["llmlingua1"], rates, 2)


@torch.no_grad()
def test_check_probe_catches_a_different_model():
    torch.manual_seed(0)
    llm = tiny_model("llama").eval()
    classifier, _ = tiny_classifier()
    ids = torch.tensor([[5, 17, 42, 8, 99]])
    nll = torch.nn.functional.cross_entropy(llm(input_ids=ids).logits[0, :-1], ids[0, 1:], reduction="none")
    keep = classifier(input_ids=ids).logits[0].softmax(-1)[:, 1]
    probe = {
        "llm": {"ids": ids[0].tolist(), "nll": nll.tolist()},
        "classifier": {"ids": ids[0].tolist(), "keep": keep.tolist()},
    }
    diffs = check_probe(probe, llm, classifier)
    assert diffs["llm_nll"] < 1e-5 and diffs["classifier_keep"] < 1e-6
    other = tiny_model("llama").eval()  # another init: what a misread config (e.g. rope_theta) looks like
    torch.nn.init.normal_(other.model.embed_tokens.weight)
    with pytest.raises(SystemExit, match="differ"):
        check_probe(probe, other, classifier)


def test_versus_rows_pair_ours_with_each_llmlingua1_arm():
    from benchmarks.compression import RATES, add_rows
    from hf_tokens.benchmarking import Benchmark

    nll = {"none@1x": [1.0, 1.0, 1.0], "llmlingua2@3x": [2.0, 2.5, 3.0], "llmlingua1-iter50@3x": [2.5, 2.5, 2.5]}
    f1 = {"none@1x": [0.5] * 3, "llmlingua2@3x": [0.4, 0.5, 0.6], "llmlingua1-iter50@3x": [0.1, 0.2, 0.3]}
    per_item = {arm: {"answer_nll": nll[arm], "answer_f1": f1[arm]} for arm in nll}
    results = {arm: {"answer_nll": sum(nll[arm]) / 3, "answer_f1": sum(f1[arm]) / 3} for arm in nll}
    bench = Benchmark("compression", "x")
    add_rows(bench, results, per_item, n_questions=3, seed=0)
    rows = {(r["method"], r["metric"]): r for r in bench.rows}
    d = rows[("llmlingua2@3x", "answer_nll_vs_llmlingua1-iter50")]
    assert d["value"] == pytest.approx(0.0) and d["baseline"] == "llmlingua1-iter50@3x"
    assert d["requested_rate"] == RATES["3x"] and d["ci95"][0] <= 0.0 <= d["ci95"][1]
    f = rows[("llmlingua2@3x", "answer_f1_vs_llmlingua1-iter50")]
    assert f["value"] == pytest.approx(0.3) and f["ci95"][0] == pytest.approx(0.3)  # every question +0.3
    assert not any(m.endswith("_vs_llmlingua1") for _, m in rows)  # the default arm was not measured


def test_distil_caches_replies_per_teacher(tmp_path, monkeypatch):
    import benchmarks.compression as compression

    calls = []
    monkeypatch.setattr(compression, "DISTIL_CACHE", tmp_path)
    monkeypatch.setattr(compression, "load_model", lambda name: (None, lambda text, **kw: {"input_ids": text.split()}))

    def fake_greedy(model, tokenizer, prompt, max_new_tokens):
        calls.append(max_new_tokens)
        return prompt.rsplit("\n", 1)[-1].split()[0]

    monkeypatch.setattr(compression, "greedy", fake_greedy)
    assert compression.distil("teacher-a", ["alpha beta", "gamma delta epsilon"]) == {
        "alpha beta": "alpha",
        "gamma delta epsilon": "gamma",
    }
    assert calls == [2 + 8, 3 + 8]  # room for every word of the text
    assert compression.distil("teacher-a", ["gamma delta epsilon"]) == {"gamma delta epsilon": "gamma"}
    assert len(calls) == 2  # served from the cache
    compression.distil("teacher-b", ["alpha beta"])
    assert len(calls) == 3 and len(list(tmp_path.glob("*.json"))) == 2  # one cache file per teacher
