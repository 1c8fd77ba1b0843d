"""Prompt compression on the shared evaluation set (benchmarks/data/rag_eval.json): a reader LLM answers the
generated questions from each question's document, given whole or compressed at 2x, 3x and 5x.

    PYTHONPATH=. python benchmarks/compression.py --json bench_results/compression.json   # default budget
    PYTHONPATH=. python benchmarks/compression.py --quick
    PYTHONPATH=. python benchmarks/compression.py --train-docs 6 --train-words 80 --max-variation 0.3 \
        --train-seconds 30 --max-new-tokens 0   # the committed run (NLL only: the shared 2-core budget)
    PYTHONPATH=. python benchmarks/compression.py --train-docs 200 --train-seconds 1800 --threads 8

Compressors live in :data:`COMPRESSORS` (name -> ``callable(context, question, rate) -> str``); add one line there
(or call :func:`register_compressor`) and every arm runs on the same questions, contexts and reader.

LLMLingua-2 (ours) is trained here first by the paper's data distillation: the teacher LLM (``--teacher``, default
SmolLM2-135M-Instruct) compresses ``--train-docs`` documents of the corpus that hold no evaluation question, the
replies are aligned to keep/drop word labels (replies with a variation rate above ``--max-variation`` are dropped),
and the bundled MiniLM with a fresh 2-label head learns them within ``--train-seconds``. The classifier is saved with
``save_for_hub`` (card included) under ``--save`` (git-ignored).

Metrics per arm and rate: ``answer_nll`` (mean per-token negative log-likelihood of the reference answer given the
prompt, teacher-forced; lower is better: the accuracy signal that does not depend on string matching), ``answer_f1``
(token F1 of the reader's greedy answer against the reference answer, SQuAD-style normalisation),
``achieved_rate`` (kept words / words, mean) and ``latency_ms`` (compressor time per context, median).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.data.rag_eval import load_eval
from hf_tokens.assets import load_encoder, load_model
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch
from hf_tokens.pipelines.llmlingua2.compress import split_words

Compressor = Callable[[str, str, float], str]
COMPRESSORS: dict[str, Compressor] = {}
RATES = {"2x": 0.5, "3x": 1 / 3, "5x": 0.2}
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


def train_ours(args, eval_docs: set[str], documents: dict[str, str], bench: Benchmark):
    """Distil the teacher's compressions into a MiniLM token classifier; returns its compression pipeline."""
    from transformers import AutoModelForTokenClassification, pipeline

    import hf_tokens.pipelines.llmlingua2.pipeline  # noqa: F401  (registers the "prompt-compression" task)
    from hf_tokens.assets.loaders import minilm_folder
    from hf_tokens.pipelines.llmlingua2 import align_labels, distillation_prompt, train_classifier, variation_rate

    teacher, teacher_tok = load_model(args.teacher)
    pool = sorted(d for d in documents if d not in eval_docs)
    random.Random(args.seed).shuffle(pool)
    examples, rejected, t0 = [], 0, time.perf_counter()
    for doc_id in pool[: args.train_docs]:
        words = split_words(documents[doc_id])[: args.train_words]
        reply = greedy(teacher, teacher_tok, distillation_prompt(" ".join(words)), len(words) + 8)
        labels = align_labels(words, reply)
        if variation_rate(reply, labels) > args.max_variation or not 0 < sum(labels) < len(words):
            rejected += 1
            continue
        examples.append((words, labels))
        print(f"distilled {doc_id}: kept {sum(labels)}/{len(words)} words", flush=True)
    distil_s = time.perf_counter() - t0
    del teacher
    if not examples:
        raise SystemExit(f"no distilled example survived the filter ({rejected} rejected); raise --max-variation")
    torch.manual_seed(args.seed)
    model = AutoModelForTokenClassification.from_pretrained(str(minilm_folder()), num_labels=2)
    _, tokenizer = load_encoder("minilm-l6")
    log = train_classifier(model, tokenizer, examples, epochs=args.epochs, seconds=args.train_seconds, seed=args.seed)
    kept = sum(sum(lab) for _, lab in examples) / sum(len(lab) for _, lab in examples)
    bench.note(
        f"ours: {len(examples)} distilled examples from {args.teacher} ({rejected} rejected by variation rate >"
        f" {args.max_variation}; teacher keeps {kept:.0%} of words; {distil_s:.0f} s), MiniLM trained"
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


def main(argv: list[str] | None = None) -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--reader", default="smollm2-135m", help="reader LLM (an hf_tokens.assets model)")
    parser.add_argument("--teacher", default="smollm2-135m", help="distillation teacher LLM")
    parser.add_argument("--train-docs", type=int, default=40, help="documents the teacher compresses")
    parser.add_argument("--train-words", type=int, default=160, help="words of each training document")
    parser.add_argument("--train-seconds", type=float, default=240.0, help="classifier training budget (CPU s)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-variation", type=float, default=0.2, help="drop replies above this variation rate")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="reader answer length (0: no answer_f1)")
    parser.add_argument("--save", type=Path, default=Path(".cache/llmlingua2-minilm"), help="classifier folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup_torch(args)
    if args.quick:
        args.train_docs, args.train_seconds, args.max_new_tokens = 8, 30.0, 16
    data = load_eval()
    pairs = data["pairs"]
    bench = Benchmark("compression", args.reader, device=args.device, quick=args.quick)
    bench.note(f"`{' '.join(sys.argv)}`; {len(pairs)} questions of rag_eval.json; contexts = their whole documents")
    ours = train_ours(args, {p["doc_id"] for p in pairs}, data["documents"], bench)
    register_compressor("llmlingua2", lambda c, q, r: ours(c, rate=r)["compressed_prompt"])
    register_compressor("random-drop", random_drop(args.seed))
    reader, reader_tok = load_model(args.reader)
    arms = [("none", "1x", 1.0)] + [(n, k, r) for n in COMPRESSORS for k, r in RATES.items()]
    results: dict[str, dict[str, float]] = {}
    for name, label, rate in arms:
        nll, f1, achieved, ms = [], [], [], []
        for pair in pairs:
            context = data["documents"][pair["doc_id"]]
            t0 = time.perf_counter()
            short = context if name == "none" else COMPRESSORS[name](context, pair["question"], rate)
            ms.append((time.perf_counter() - t0) * 1000)
            achieved.append(len(split_words(short)) / len(split_words(context)))
            prompt = READER_PROMPT.format(context=short, question=pair["question"])
            nll.append(answer_nll(reader, reader_tok, prompt, pair["answer"]))
            if args.max_new_tokens > 0:
                f1.append(token_f1(greedy(reader, reader_tok, prompt, args.max_new_tokens), pair["answer"]))
        results[f"{name}@{label}"] = {
            "answer_nll": statistics.mean(nll),
            **({"answer_f1": statistics.mean(f1)} if f1 else {}),
            "achieved_rate": statistics.mean(achieved),
            "latency_ms": statistics.median(ms),
        }
        print(name, label, results[f"{name}@{label}"], flush=True)
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
                n_questions=len(pairs),
            )
    bench.finish(args.json)


if __name__ == "__main__":
    main()
