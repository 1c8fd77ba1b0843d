"""Retrieval on the shared evaluation set (benchmarks/data/rag_eval_qwen15.json, 57 questions): BM25, single-vector
MiniLM, ColBERT-style MaxSim over all document tokens, and XTR (MiniLM trained with XTR's in-batch token retrieval
loss, scoring from the retrieved tokens only) per chunk size; chunk recall@k, nDCG@10, the token-level metrics of
rag-token-metrics (recall, precision, IoU of the top-5 chunks; Precision Omega of the chunking) and XTR's scoring
cost vs ColBERT's.

    PYTHONPATH=. python benchmarks/rag.py --json bench_results/rag_qwen15.json   # about 4 min at 1 thread
    PYTHONPATH=. python benchmarks/rag.py --quick                                # about 5 min
    PYTHONPATH=. python benchmarks/rag.py --xtr-steps 1000 --batch-size 32 --chunk-sizes 32,64,128,256 --threads 8

Cross-fitting by document (``--folds``): for each fold an XTR encoder trains on the generated pairs of the other
folds' documents (repeated to about a third of the training pairs) plus inverse-cloze pairs cut from every
document's text (no question), and answers only the questions of its own fold; every other retriever answers every
question. Retrieval always runs over all chunks of all documents. The default training budget (40 steps of 8 pairs
per fold) is what a shared 2-core CPU allows; the flags scale it.
"""

from __future__ import annotations

import argparse
import copy
import random
import re
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.data.rag_eval import COMMITTED, load_eval
from hf_tokens.assets import load_encoder
from hf_tokens.benchmarking import Benchmark, add_common_args, paired_bootstrap, setup_torch
from hf_tokens.pipelines.rag_token_metrics.metrics import fixed_token_chunks, ndcg_at_k, recall_at_k, tokens_in_spans
from hf_tokens.pipelines.rag_token_metrics.report import evaluate_retrieval, hf_offsets
from hf_tokens.pipelines.rag_token_metrics.synth import QAPair
from hf_tokens.pipelines.xtr.index import BM25, TokenIndex, encode_mean_pooled, encode_token_vectors
from hf_tokens.pipelines.xtr.pipeline import XTRConfig
from hf_tokens.pipelines.xtr.train import inverse_cloze_pairs, train_xtr

TOKEN_K = 5  # chunks retrieved for the token-level metrics
T0 = time.perf_counter()


def fold_pairs(pairs: list[QAPair], folds: int, seed: int) -> list[list[QAPair]]:
    """The pairs in ``folds`` groups by document (a document's questions stay together)."""
    docs = sorted({p.doc_id for p in pairs})
    random.Random(seed).shuffle(docs)
    fold_of = {d: i % folds for i, d in enumerate(docs)}
    return [[p for p in pairs if fold_of[p.doc_id] == f] for f in range(folds)]


def chunk_corpus(documents: dict[str, str], offsets, size: int) -> tuple[dict, list[tuple[str, int]], list[str]]:
    """Per-document chunk ranges, the flat list of (doc_id, chunk index) and their texts."""
    chunks, items, texts = {}, [], []
    for doc_id, text in documents.items():
        chunks[doc_id] = fixed_token_chunks(offsets(text), size)
        for i, (a, b) in enumerate(chunks[doc_id]):
            items.append((doc_id, i))
            texts.append(text[a:b])
    return chunks, items, texts


def relevant_chunks(pair: QAPair, documents, chunks, offsets, items) -> set[int]:
    """Flat indices of the chunks of the pair's document that hold a reference token."""
    toks = offsets(documents[pair.doc_id])
    reference = tokens_in_spans(toks, pair.spans)
    out = set()
    for flat, (doc_id, i) in enumerate(items):
        if doc_id == pair.doc_id and tokens_in_spans(toks, [chunks[doc_id][i]]) & reference:
            out.add(flat)
    return out


def ranking_metrics(ranked: list[int], relevant: set[int]) -> dict[str, float]:
    """Chunk recall@1/5/10 and binary nDCG@10 of one ranking."""
    out = {f"recall@{k}": recall_at_k(ranked, relevant, k) for k in (1, 5, 10)}
    out["ndcg@10"] = ndcg_at_k(ranked, relevant, 10)
    return out


def train_encoder(args, base, tokenizer, documents, train_pairs, offsets):
    """A copy of ``base`` trained with the XTR loss; returns it and the training log."""
    passage_tokens = args.passage_tokens
    questions, passages = [], []
    for pair in train_pairs:  # the passage: the 128-token window that starts at the first reference span
        text = documents[pair.doc_id]
        toks = [(a, b) for a, b in offsets(text) if b > a]
        first = next(i for i, (a, b) in enumerate(toks) if b > pair.spans[0][0])
        start = max(0, min(first - passage_tokens // 4, len(toks) - passage_tokens))
        window = toks[start : start + passage_tokens]
        questions.append(pair.question)
        passages.append(text[window[0][0] : window[-1][1]])
    corpus_chunks = [t for doc in documents.values() for t in _windows(doc, offsets, passage_tokens)]
    ict_q, ict_p = inverse_cloze_pairs(corpus_chunks, words=8, seed=args.seed)
    # the generated pairs are few: repeat them to make about a third of the training pairs
    repeat = max(1, len(ict_q) // (2 * max(1, len(questions))))
    questions, passages = questions * repeat, passages * repeat
    model = copy.deepcopy(base)
    config = XTRConfig(k_train=args.k_train, max_length=passage_tokens + 8)
    log = train_xtr(
        model,
        tokenizer,
        questions + ict_q,
        passages + ict_p,
        config,
        steps=args.xtr_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        log=lambda s, loss: print(f"xtr step {s}: loss {loss:.3f}", file=sys.stderr) if s % 10 == 0 else None,
    )
    log.update(generated_pairs=len(questions) // repeat, repeat=repeat, ict_pairs=len(ict_q))
    return model, log


def _windows(text: str, offsets, size: int) -> list[str]:
    return [text[a:b] for a, b in fixed_token_chunks(offsets(text), size)]


def evaluate_size(args, bench, size, data, encoders, tokenizer, folds, offsets):
    """Rank every chunk for every question; ``encoders`` maps a name to one encoder per fold (or one for all)."""
    documents = data["documents"]
    test_pairs = [p for fold in folds for p in fold]
    chunks, items, texts = chunk_corpus(documents, offsets, size)
    relevant = [relevant_chunks(p, documents, chunks, offsets, items) for p in test_pairs]
    questions = [p.question for p in test_pairs]
    rankings: dict[str, list[list[int]]] = {}
    cost: dict[str, list[tuple[int, float]]] = {}
    bm25 = BM25(texts)
    rankings["bm25"] = [torch.tensor(bm25.scores(q)).topk(10).indices.tolist() for q in questions]
    if encoders:
        dense_docs = encode_mean_pooled(encoders["minilm"][0], tokenizer, texts)
        dense_q = encode_mean_pooled(encoders["minilm"][0], tokenizer, questions)
        rankings["dense"] = (dense_q @ dense_docs.T).topk(10, dim=1).indices.tolist()
    for enc_name, models in encoders.items():
        tag = "" if enc_name == "xtr-trained" else f"[{enc_name}]"
        groups = [test_pairs] if len(models) == 1 else folds  # a trained encoder answers only its held-out fold
        for model, group in zip(models, groups):
            index = TokenIndex(encode_token_vectors(model, tokenizer, texts, max_length=size + 8))
            q_vecs = encode_token_vectors(model, tokenizer, [p.question for p in group], max_length=64)
            full = [index.search_maxsim(q, top_k=10) for q in q_vecs]
            xtr = [index.search_xtr(q, k_prime=args.k_prime, top_k=10) for q in q_vecs]
            rerank = [
                index.search_maxsim(q, top_k=10, candidates=torch.tensor(sorted(set(r.doc_ids))))
                for q, r in zip(q_vecs, xtr)
            ]
            rankings.setdefault(f"colbert-maxsim{tag}", []).extend(r.doc_ids for r in full)
            rankings.setdefault(f"xtr{tag}", []).extend(r.doc_ids for r in xtr)
            n_tokens = len(index.owner)
            stages = {  # similarities each scoring stage aggregates, and its time
                f"colbert-maxsim{tag}": [(r.vectors_scored, r.scoring_seconds) for r in full],
                f"xtr{tag}": [(args.k_prime, r.scoring_seconds) for r in xtr],
                f"xtr{tag}-end-to-end": [(n_tokens, r.search_seconds) for r in xtr],
                f"colbert-rerank{tag}": [(r.vectors_scored, r.scoring_seconds) for r in rerank],
            }
            for name, per_q in stages.items():
                rows = [(q.shape[0] * n, sec) for q, (n, sec) in zip(q_vecs, per_q)]
                cost.setdefault(name, []).extend(rows)
    baseline = "bm25"
    summary = {}
    per_question: dict[str, list[dict[str, float]]] = {}
    for name, ranked in rankings.items():
        per_q = per_question[name] = [ranking_metrics(r, rel) for r, rel in zip(ranked, relevant)]
        report = evaluate_retrieval(
            documents, test_pairs, chunks, [[items[i] for i in r[:TOKEN_K]] for r in ranked], offsets=offsets
        )
        metrics = {k: statistics.fmean(m[k] for m in per_q) for k in per_q[0]}
        metrics.update(token_recall=report.recall, token_precision=report.precision, token_iou=report.iou)
        summary[name] = metrics
        summary[name]["precision_omega"] = report.precision_omega
    for name, metrics in summary.items():
        for metric, value in metrics.items():
            base = summary[baseline][metric]
            extra = paired_intervals(per_question, name, baseline, metric)
            bench.add(f"{name}@{size}", metric, value, baseline=f"{baseline}@{size}", baseline_value=base,
                      chunk_size=size, retriever=name, n_questions=len(test_pairs), **extra)  # fmt: skip
    ref = "colbert-maxsim"
    for name, rows in cost.items():
        sims = statistics.median(r[0] for r in rows)
        ms = statistics.median(r[1] for r in rows) * 1e3
        tag = re.search(r"\[[^\]]*\]", name)
        ref_name = ref + (tag.group(0) if tag else "")
        ref_rows = cost[ref_name]
        ref_sims = statistics.median(r[0] for r in ref_rows)
        ref_ms = statistics.median(r[1] for r in ref_rows) * 1e3
        common = {"baseline": f"{ref_name}@{size}", "chunk_size": size, "retriever": name}
        bench.add(f"{name}@{size}", "similarities_scored", sims, baseline_value=ref_sims, **common)
        bench.add(f"{name}@{size}", "scoring_ms", ms, baseline_value=ref_ms, **common)
    print(f"chunk size {size}: {len(texts)} chunks, {time.perf_counter() - T0:.0f} s", file=sys.stderr)


def paired_intervals(per_question: dict[str, list[dict[str, float]]], name: str, baseline: str, metric: str) -> dict:
    """Per-question paired bootstrap 95% intervals of ``name`` minus ``baseline`` (``diff_ci95``) and, for an XTR
    ranking, minus the ColBERT MaxSim ranking of the same encoder (``maxsim_diff_ci95``); empty for the token-level
    metrics (computed over the pooled spans, not per question)."""
    mine = per_question[name]
    if metric not in mine[0]:
        return {}
    values = [m[metric] for m in mine]
    out = {}
    if name != baseline:
        out["diff_ci95"] = paired_bootstrap(values, [m[metric] for m in per_question[baseline]])
    ref = "colbert-maxsim" + name[3:] if name.startswith("xtr") else None
    if ref in per_question:
        out["maxsim_diff_ci95"] = paired_bootstrap(values, [m[metric] for m in per_question[ref]])
    return out


def main(argv: list[str] | None = None) -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--data", type=Path, default=COMMITTED, help="evaluation set JSON (default: %(default)s)")
    parser.add_argument("--chunk-sizes", default="64,128", help="token chunk sizes of every retriever")
    parser.add_argument("--sweep-sizes", default="8,16,32,256", help="extra chunk sizes, BM25 only (the sweep)")
    parser.add_argument("--folds", type=int, default=2, help="XTR cross-fitting folds (by document)")
    parser.add_argument("--xtr-steps", type=int, default=40, help="XTR training steps per fold (the CPU budget)")
    parser.add_argument("--batch-size", type=int, default=8, help="XTR training batch (in-batch negatives)")
    parser.add_argument("--passage-tokens", type=int, default=64, help="tokens of each training passage")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--k-train", type=int, default=32, help="k_train of the XTR loss")
    parser.add_argument("--k-prime", type=int, default=100, help="tokens retrieved per query token (k')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, default=None, help="save the trained XTR encoder here (save_for_hub)")
    args = parser.parse_args(argv)
    setup_torch(args)
    if args.quick:
        args.chunk_sizes, args.sweep_sizes, args.xtr_steps = "64", "16", min(args.xtr_steps, 10)
    data = load_eval(args.data)
    pairs = [QAPair.from_dict(p) for p in data["pairs"]]
    folds = fold_pairs(pairs, args.folds, args.seed)
    base, tokenizer = load_encoder("minilm-l6")
    offsets = hf_offsets(tokenizer)
    bench = Benchmark("rag", "all-MiniLM-L6-v2", device=args.device, quick=args.quick)
    trained = []
    for f in range(args.folds):
        train_pairs = [p for g, fold in enumerate(folds) if g != f for p in fold]
        model, log = train_encoder(args, base, tokenizer, data["documents"], train_pairs, offsets)
        trained.append(model)
        bench.note(
            f"XTR fold {f}: {args.xtr_steps} steps x batch {args.batch_size} in {log['seconds']:.0f} s on "
            f"{log['generated_pairs']} generated pairs of the other folds (x{log['repeat']}) + {log['ict_pairs']} "
            f"inverse-cloze pairs of {args.passage_tokens}-token passages; loss "
            f"{statistics.fmean(log['losses'][:5]):.3f} -> {statistics.fmean(log['losses'][-5:]):.3f}"
        )
    bench.note(
        f"{len(pairs)} questions ({data['generator']}: {data.get('survived')} of {data.get('generated')} generated "
        f"pairs survived validation), {args.folds} folds by document; every retriever is scored on every question, "
        f"a trained XTR encoder only on its held-out fold; corpus {len(data['documents'])} documents; token "
        f"metrics of the top {TOKEN_K} chunks"
    )
    if args.save:
        from hf_tokens.hub import save_for_hub

        save_for_hub(
            trained[0],
            args.save,
            method_id="xtr",
            tokenizer=tokenizer,
            config=XTRConfig(k_train=args.k_train, max_length=args.passage_tokens + 8, k_prime=args.k_prime),
            overwrite=True,
            auto_class="AutoModel",
            training=f"`{' '.join(sys.argv)}` (lr {args.lr}); {bench.notes[0]}",
        )
    encoders = {"minilm": [base], "xtr-trained": trained}
    sizes = [int(s) for s in args.chunk_sizes.split(",")]
    for size in sorted(set(sizes) | {int(s) for s in args.sweep_sizes.split(",")}):
        evaluate_size(args, bench, size, data, encoders if size in sizes else {}, tokenizer, folds, offsets)
    bench.note(f"total {time.perf_counter() - T0:.0f} s")
    bench.finish(args.json)


if __name__ == "__main__":
    main()
