"""Dynamic tokenization (arXiv:2411.18553): sequence-length reduction vs loss / accuracy change per merge budget.

1. SmolLM2 prefilling (the paper's decoder setting 1): each batch of texts is split into a prefix (``--prefix-chars``)
   and a continuation (``--cont-tokens`` original tokens); the prefix is tokenised with batch-level BPE at each merge
   budget, the continuation's mean NLL is measured after it. Rows: median over ``--batches`` of the length reduction
   and of the NLL ratio to the unmerged prefix (same texts, same run); ``per_text_nll_ratio`` rows: the geometric
   mean over texts of each text's NLL ratio with a 95% paired-bootstrap interval over the texts (with
   ``--hypernetwork``, also ZeTT's NLL over mean pieces', ``zett-vs-mean:`` rows).
2. MiniLM classification: which corpus a ``--clf-chars`` passage comes from (4 offline corpora); mean-pooled frozen
   encoder features, a linear head trained ``--clf-steps`` full-batch Adam steps on the training features of each arm
   (same budget and seed), test accuracy with and without dynamic tokens (batch-level BPE per batch of
   ``--batch`` texts).

Embeddings of merged tokens: :class:`MeanPiecesPredictor` (``prefill:`` and ``classify:`` rows); with
``--hypernetwork PATH`` (SmolLM2's ZeTT hypernetwork from ``benchmarks/zett_train.py``, or one trained on prefilling
by ``benchmarks/dynamic_tokenization_train.py``; the notes name it) the prefill arms are also measured with its
predictions (``prefill-zett:`` rows, whichever way it was trained; same texts and merges in the same run).
``--prefill-corpus`` picks the prefill text (default the Jargon File; ``dpkg-changelog`` is a corpus the
hypernetwork never trains on; ``man-de`` / ``man-fr``, German / French manual pages, are the paper's multilingual
regime, where SmolLM2's tokenizer splits words into many pieces and merges within words can shorten the prompt by 30%
and more).
Setting 2 (generation through a nearest-neighbour index over predicted output embeddings) is not measured here
(tested in tests/tokenizers/test_dynamic.py only).

Merges stay within words, so the reduction is capped by the whole-word tokenization of the batch (the ``target=20%``
arm stops there when 20% cannot be reached): on English text SmolLM2's tokenizer leaves little room (about 13%); the
paper's >20% figure is for XLM-R over 14 languages, which the German and French runs stand in for.
"""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

import torch

from hf_tokens.assets import load_encoder, load_model
from hf_tokens.assets.text import CORPORA as TEXT_CORPORA
from hf_tokens.assets.text import text_chunks
from hf_tokens.benchmarking import Benchmark, add_common_args, paired_log_ratio, setup_torch
from hf_tokens.tokenizers.dynamic.apply import continuation_nll, mean_pooled
from hf_tokens.tokenizers.dynamic.merges import batch_bpe
from hf_tokens.tokenizers.dynamic.predictor import MeanPiecesPredictor

CORPORA = ("fortunes", "jargon", "licenses", "python-stdlib")


def prefill_predictors(model: Any, path: str | None) -> dict[str, Any]:
    """Row prefix -> predictor: mean of pieces, plus the ZeTT hypernetwork at ``path`` when given."""
    out: dict[str, Any] = {"prefill": MeanPiecesPredictor(model)}
    if path is not None:
        from hf_tokens.tokenizers.zett import load_hypernetwork  # type: ignore[import-not-found]

        out["prefill-zett"] = load_hypernetwork(path)
    return out


def prefill_chunks(corpus: str, n: int = 24, prefix_chars: int = 1000, seed: int = 0) -> list[str]:
    """The prefill arms' texts (prefix + room for the continuation); the defaults are the default flags'."""
    return text_chunks(corpus, n, prefix_chars + 400, seed=seed)


def prefill(bench: Benchmark, args: argparse.Namespace) -> None:
    model, tok = load_model("smollm2-135m")
    model.eval()
    predictors = prefill_predictors(model, args.hypernetwork)
    bench.note(
        "prefill predictors: mean of pieces ('prefill:' rows)"
        + (f", ZeTT hypernetwork {args.hypernetwork} ('prefill-zett:' rows)" if args.hypernetwork else "")
    )
    chunks = prefill_chunks(args.prefill_corpus, args.batches * args.batch, args.prefix_chars, args.seed)
    results: dict[str, list[tuple[float, float]]] = {}
    log_ratios: dict[str, list[float]] = {}  # per text: log(NLL with dynamic tokens / NLL unmerged)
    arms = {f"merges={m}": {"merges": m} for m in args.merges} | {"target=20%": {"target_reduction": 0.2}}
    for b in range(args.batches):
        batch = chunks[b * args.batch : (b + 1) * args.batch]
        prefixes = [c[: args.prefix_chars] for c in batch]
        conts = [tok(c[args.prefix_chars :], add_special_tokens=False).input_ids[: args.cont_tokens] for c in batch]
        unmerged = batch_bpe(tok, prefixes, merges=0)
        base_texts = continuation_nll(model, unmerged, conts, predictors["prefill"])
        base = statistics.mean(base_texts)
        for arm, kwargs in arms.items():
            dyn = batch_bpe(tok, prefixes, **kwargs)
            for prefix, predictor in predictors.items():
                texts = continuation_nll(model, dyn, conts, predictor)
                nll = statistics.mean(texts)
                results.setdefault(f"{prefix}:{arm}", []).append((dyn.length_reduction, nll / base))
                log_ratios.setdefault(f"{prefix}:{arm}", []).extend(math.log(x / y) for x, y in zip(texts, base_texts))
                print(f"batch {b} {prefix}:{arm}: {dyn.length_reduction:.3f} shorter, nll ratio {nll / base:.4f}")
    for arm, vals in results.items():
        red = statistics.median(v[0] for v in vals)
        ratio = statistics.median(v[1] for v in vals)
        bench.add(arm, "length_reduction", red)
        bench.add(arm, "continuation_nll", ratio, baseline="original tokenization", baseline_value=1.0)
    for arm, logs in log_ratios.items():
        add_ratio_interval(bench, arm, logs, [0.0] * len(logs))
        prefix, budget = arm.split(":", 1)
        if prefix == "prefill-zett":
            add_ratio_interval(bench, f"zett-vs-mean:{budget}", logs, log_ratios[f"prefill:{budget}"])


def add_ratio_interval(bench: Benchmark, method: str, logs: list[float], base_logs: list[float]) -> None:
    """A ``per_text_nll_ratio`` row: exp(mean(logs - base_logs)) with its 95% paired-bootstrap interval."""
    ratio, low, high = paired_log_ratio(logs, base_logs)
    bench.add(method, "per_text_nll_ratio", ratio, ci_low=low, ci_high=high, n_texts=len(logs))


def classification(bench: Benchmark, args: argparse.Namespace) -> None:
    model, tok = load_encoder("minilm-l6")
    model.eval()
    predictor = MeanPiecesPredictor(model)
    bench.note("classification predictor: mean of pieces (the ZeTT hypernetwork here is SmolLM2's, not MiniLM's)")
    texts, labels = [], []
    for label, corpus in enumerate(CORPORA):
        chunk = text_chunks(corpus, args.clf_texts, args.clf_chars, seed=args.seed)
        texts += chunk
        labels += [label] * len(chunk)
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(args.seed)).tolist()
    texts, y = [texts[i] for i in order], torch.tensor([labels[i] for i in order])
    split = len(texts) * 3 // 4

    def features(merges: int) -> tuple[torch.Tensor, float]:
        feats, orig, dyn_len = [], 0, 0
        for s in range(0, len(texts), args.batch):
            dyn = batch_bpe(tok, texts[s : s + args.batch], merges=merges)
            feats.append(mean_pooled(model, dyn, predictor))
            orig, dyn_len = orig + dyn.original_length, dyn_len + dyn.dynamic_length
        return torch.cat(feats), 1.0 - dyn_len / orig

    def accuracy(x: torch.Tensor) -> float:
        torch.manual_seed(args.seed)
        head = torch.nn.Linear(x.shape[1], len(CORPORA))
        opt = torch.optim.Adam(head.parameters(), lr=1e-2)
        for _ in range(args.clf_steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(head(x[:split]), y[:split]).backward()
            opt.step()
        with torch.no_grad():
            return float((head(x[split:]).argmax(-1) == y[split:]).float().mean())

    base_acc = accuracy(features(0)[0])
    for m in args.merges:
        x, red = features(m)
        bench.add(f"classify:merges={m}", "length_reduction", red)
        bench.add(f"classify:merges={m}", "accuracy", accuracy(x), baseline="original tokenization",
                  baseline_value=base_acc)  # fmt: skip


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--merges", type=int, nargs="+", default=[50, 100, 200, 400], help="merge budgets per batch")
    parser.add_argument("--batches", type=int, default=3, help="batches for the prefill medians")
    parser.add_argument("--batch", type=int, default=8, help="texts per batch (merges are learnt per batch)")
    parser.add_argument("--prefix-chars", type=int, default=1000)
    parser.add_argument("--cont-tokens", type=int, default=32)
    parser.add_argument("--clf-texts", type=int, default=40, help="passages per corpus for classification")
    parser.add_argument("--clf-chars", type=int, default=300)
    parser.add_argument("--clf-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--hypernetwork", default=None, help="SmolLM2 ZeTT hypernetwork folder: adds 'prefill-zett:' rows"
    )
    parser.add_argument("--skip-classification", action="store_true")
    parser.add_argument("--prefill-corpus", default="jargon", choices=TEXT_CORPORA, help="text of the prefill arms")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.merges, args.clf_texts = 2, [100, 400], 20
    if min(args.merges) < 0:
        raise SystemExit("--merges must be >= 0")
    setup_torch(args)
    torch.manual_seed(args.seed)
    bench = Benchmark("dynamic_tokenization", "SmolLM2-135M-Instruct + all-MiniLM-L6-v2", args.device, args.quick)
    bench.note(f"prefill text: {args.prefill_corpus}")
    clf = (
        "no classification"
        if args.skip_classification
        else (f"classification {len(CORPORA)}x{args.clf_texts} passages, {args.clf_steps} steps")
    )
    bench.note(
        f"CPU budget: {args.batches} batches x {args.batch} texts x {args.prefix_chars} chars prefix + "
        f"{args.cont_tokens} tokens; {clf}"
    )
    prefill(bench, args)
    if not args.skip_classification:
        classification(bench, args)
    bench.finish(args.json)


if __name__ == "__main__":
    main()
