"""Context compression on the shared evaluation set (benchmarks/data/rag_eval_qwen15.json, 57 questions): TCRA-LLM
summarisation, semantic compression and both composed, CRAG's clustered summaries, and a random word-drop baseline
at the same token budget, against the uncompressed retrieved context.

Protocol (the reader/accuracy protocol of issue 17): for each generated question, BM25 retrieves the top
``--passages`` 64-token chunks of the corpus; each arm turns them into a context of at most ``rate`` x their tokens
(CRAG: ceil(sqrt(passages)) cluster summaries whose budgets add up to the same total); the reader LLM answers
greedily from the context. Metrics per arm: answer token-F1 against the reference answer (x100, "points"), the
reader's mean NLL of the reference answer (teacher-forced, less noisy than F1 on few questions), achieved rate
(compressed / original reader tokens) and compressor latency (median seconds per question).

    PYTHONPATH=. python benchmarks/compression_context.py --json bench_results/compression_context.json

Every arm sees the same questions, passages, budgets, seed and threads; the summariser is the reader model. With
``--json``, each finished question is kept in ``<json>.partial`` and the JSON is rewritten from the questions done; the
same command, stopped part-way, resumes after the last finished question (the partial file is deleted at the end).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from benchmarks.data.rag_eval import COMMITTED, load_eval
from hf_tokens.assets import load_encoder, load_model
from hf_tokens.benchmarking import Benchmark, PartialRun, add_common_args, json_digest, paired_bootstrap, setup_torch
from hf_tokens.pipelines.crag.cluster import crag_context
from hf_tokens.pipelines.rag_token_metrics.metrics import fixed_token_chunks
from hf_tokens.pipelines.rag_token_metrics.report import hf_offsets
from hf_tokens.pipelines.tcra.compress import budget_of, count_tokens
from hf_tokens.pipelines.tcra.pipeline import TCRAConfig, tcra_compress
from hf_tokens.pipelines.xtr.index import BM25

FIELDS = ("f1", "nll", "rate", "seconds")  # one question's values of an arm, in this order
READER_PROMPT = (
    "Answer the question using the context.\n\nContext:\n{context}\n\nQuestion: {question}\nAnswer briefly."
)


def retrieve(data: dict, question: str, k: int, chunk_tokens: int, cache: dict) -> list[str]:
    if "bm25" not in cache:
        _, enc_tok = load_encoder("minilm-l6")
        offsets = hf_offsets(enc_tok)
        texts = []
        for text in data["documents"].values():
            texts += [text[a:b] for a, b in fixed_token_chunks(offsets(text), chunk_tokens)]
        cache["texts"], cache["bm25"] = texts, BM25(texts)
    scores = cache["bm25"].scores(question)
    top = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    return [cache["texts"][i] for i in top]


def random_drop(context: str, tokenizer, rate: float, seed: int) -> str:
    """The baseline: drop uniformly random words (a seeded subsequence) until the budget is met."""
    budget = budget_of(tokenizer, context, rate)
    words = list(re.finditer(r"\S+", context))
    keep = list(range(len(words)))
    random.Random(seed).shuffle(keep)
    kept = sorted(keep)
    order = iter(keep)
    while len(kept) > 1 and count_tokens(tokenizer, " ".join(words[i].group() for i in kept)) > budget:
        drop = set()
        for _ in range(max(1, len(kept) // 20)):
            drop.add(next(order))
        kept = [i for i in kept if i not in drop] or kept[:1]
    return " ".join(words[i].group() for i in kept)


def _norm(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def token_f1(prediction: str, reference: str) -> float:
    p, r = _norm(prediction), _norm(reference)
    common = sum((Counter(p) & Counter(r)).values())
    if not p or not r or not common:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


@torch.no_grad()
def read(model, tokenizer, context: str, question: str, answer: str, max_new_tokens: int) -> tuple[float, float]:
    """(token F1 of the greedy answer, mean NLL of the reference answer) of the reader on ``context``."""
    messages = [{"role": "user", "content": READER_PROMPT.format(context=context, question=question)}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    out = model.generate(
        input_ids=ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )
    prediction = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    gold = tokenizer(answer, return_tensors="pt", add_special_tokens=False)["input_ids"]
    full = torch.cat([ids, gold], dim=1)
    logits = model(input_ids=full).logits[0, ids.shape[1] - 1 : -1].float()
    nll = torch.nn.functional.cross_entropy(logits, gold[0]).item()
    return token_f1(prediction, answer), nll


def report(args: argparse.Namespace, data: dict, results: dict, n: int, final: bool, started: float) -> None:
    """Rows of the arms measured on the first ``n`` questions."""
    bench = Benchmark("compression_context", args.model, device=args.device, quick=args.quick, started=started)
    base = results["none"]
    for arm, row in results.items():
        extra: dict[str, Any] = {"n_questions": n}
        for metric, key in (("answer_f1", "f1"), ("answer_nll", "nll")):
            if arm == "none":
                bench.add(arm, metric, statistics.fmean(row[key]), **extra)
                continue
            # paired 95% interval of (arm - uncompressed), and of (arm - random drop at the same rate)
            ci = paired_bootstrap(row[key], base[key]) if n > 1 else None
            bench.add(arm, metric, statistics.fmean(row[key]), baseline="none",
                      baseline_value=statistics.fmean(base[key]), ci95_diff=ci, **extra)  # fmt: skip
            rand = results.get(f"random-drop@{arm.split('@')[1]}")
            if rand is not None and rand is not row:
                bench.add(arm, f"{metric}_minus_random_drop", statistics.fmean(row[key]) - statistics.fmean(rand[key]),
                          ci95=paired_bootstrap(row[key], rand[key]) if n > 1 else None, **extra)  # fmt: skip
        bench.add(arm, "achieved_rate", statistics.fmean(row["rate"]), **extra)
        bench.add(arm, "token_savings", 1 - statistics.fmean(row["rate"]), **extra)
        bench.add(arm, "latency_s", statistics.median(row["seconds"]), **extra)
    bench.note(
        f"{n} questions of {data['generator']} ({data.get('survived')} of {data.get('generated')} generated pairs "
        f"survived validation); BM25 top {args.passages} chunks of {args.chunk_tokens} MiniLM tokens as the "
        f"retrieved context; reader and summariser {args.model} (greedy, {args.answer_tokens} answer tokens); "
        f"summaries {'query-aware' if args.query_aware else 'query-agnostic (as in the papers)'}; CRAG with "
        f"ceil(sqrt(passages)) clusters and the rate's budget split evenly; {args.threads} thread(s), {args.device}; "
        f"latency is one run per question (median over questions)"
    )
    if final:
        bench.finish(args.json)
    elif args.json:  # a checkpoint after every question, so a stopped run keeps what it measured
        bench.note(f"partial run: stopped after {n} questions")
        bench.finish(args.json)


def main(argv: list[str] | None = None) -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--data", type=Path, default=COMMITTED, help="evaluation set JSON (default: %(default)s)")
    parser.add_argument("--model", default="smollm2-135m", help="reader and summariser (an hf_tokens.assets model)")
    parser.add_argument("--rates", default="0.5,0.33,0.2", help="kept fractions of the context's tokens")
    parser.add_argument("--passages", type=int, default=6, help="BM25 passages retrieved per question")
    parser.add_argument("--chunk-tokens", type=int, default=64, help="MiniLM tokens per corpus chunk")
    parser.add_argument("--questions", type=int, default=0, help="first N questions (0: all)")
    parser.add_argument("--answer-tokens", type=int, default=32, help="reader's max new tokens")
    parser.add_argument("--query-aware", action="store_true", help="summaries are told the question")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup_torch(args)
    if args.quick:
        args.rates, args.questions = "0.5", args.questions or 4
    rates = [float(r) for r in args.rates.split(",")]
    data = load_eval(args.data)
    pairs = data["pairs"][: args.questions or None]
    torch.manual_seed(args.seed)
    model, tokenizer = load_model(args.model)
    model = model.to(args.device).eval()
    encoder, enc_tok = load_encoder("minilm-l6")
    encoder = encoder.eval()
    cache: dict = {}
    results: dict[str, dict[str, list[float]]] = {}  # arm -> FIELDS -> one value per question
    partial = PartialRun(args.json, run_key(args, rates, pairs))  # a stopped run resumes from its finished questions
    done = sum(partial.get(str(q)) is not None for q in range(len(pairs)))
    if done:
        print(f"resuming from {partial.path}: {done} question(s) already measured", flush=True)

    def measure(context: str, original: str, seconds: float, pair: dict) -> list[float]:
        f1, nll = read(model, tokenizer, context, pair["question"], pair["answer"], args.answer_tokens)
        rate = count_tokens(tokenizer, context) / count_tokens(tokenizer, original)
        return [100 * f1, nll, rate, seconds]

    def question_unit(q: int, pair: dict) -> dict[str, list[float]]:
        """Every arm on question ``q``: ``{arm: [f1, nll, rate, seconds]}`` (FIELDS)."""
        passages = retrieve(data, pair["question"], args.passages, args.chunk_tokens, cache)
        original = "\n\n".join(passages)
        question = pair["question"] if args.query_aware else None
        unit = {"none": measure(original, original, 0.0, pair)}
        for rate in rates:
            for mode in ("summarize", "semantic", "both"):
                t0 = time.perf_counter()
                out = tcra_compress(
                    original,
                    TCRAConfig(rate=rate, mode=mode),
                    tokenizer=tokenizer,
                    model=model,
                    encoder=encoder,
                    encoder_tokenizer=enc_tok,
                    question=question,
                )
                unit[f"tcra-{mode}@{rate:g}"] = measure(out, original, time.perf_counter() - t0, pair)
            k = math.ceil(math.sqrt(len(passages)))
            per = max(1, budget_of(tokenizer, original, rate) // k)
            t0 = time.perf_counter()
            crag = crag_context(
                passages,
                model=model,
                tokenizer=tokenizer,
                encoder=encoder,
                encoder_tokenizer=enc_tok,
                question=question,
                n_clusters=k,
                summary_tokens=per,
                seed=args.seed,
            )
            unit[f"crag@{rate:g}"] = measure(crag.context, original, time.perf_counter() - t0, pair)
            t0 = time.perf_counter()
            out = random_drop(original, tokenizer, rate, args.seed + q)
            unit[f"random-drop@{rate:g}"] = measure(out, original, time.perf_counter() - t0, pair)
        return unit

    started = time.time()
    for q, pair in enumerate(pairs):
        unit = partial.get(str(q))
        if unit is None:
            unit = question_unit(q, pair)
            partial.put(str(q), unit)
            print(f"question {q + 1}/{len(pairs)} done after {time.time() - started:.0f} s", flush=True)
        for arm, values in unit.items():  # values: [f1, nll, rate, seconds] (measure's order)
            row = results.setdefault(arm, {name: [] for name in FIELDS})
            for name, value in zip(FIELDS, values):
                row[name].append(value)
        report(args, data, results, q + 1, final=q + 1 == len(pairs), started=started)
    partial.finish()


def run_key(args: argparse.Namespace, rates: list[float], pairs: list[dict]) -> dict:
    """What the per-question results depend on: a saved question is reused only under the same key."""
    settings = ("model", "passages", "chunk_tokens", "answer_tokens", "query_aware", "seed", "device", "quick")
    return {"rates": rates, "questions": json_digest(pairs), **{k: getattr(args, k) for k in settings}}


if __name__ == "__main__":
    main()
