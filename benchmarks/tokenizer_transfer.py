"""Tokenizer transfer: the bundled SmolLM2-135M moved, with no training, to other tokenizers.

For each target tokenizer (GPT-2, Qwen3, Mistral, a supertoken BPE trained here on offline text, and the KL3M 32k
cased domain BPE and 8k character BPE trained here as ``benchmarks/domain_tokenizers.py`` trains them) and each
initialiser (TokenAdapt, mean of subtokens, random, a ZeTT hypernetwork given with ``--zett-hypernetwork``, FOCUS from
its official package in ``.venv-focus`` (``--methods focus``, see tokenizer_transfer_focus_worker.py) and mergekit's
tokensurgeon when it is installed in ``.venv-mergekit``) it reports the zero-shot perplexity per character
on held-out English text (Debian fortunes and the Jargon File, chunks that the supertoken tokenizer never saw),
divided by the original model's: 1.0 means nothing was lost. Per character, so tokenizers that cut the text
differently compare fairly. It also reports compression (characters per token) of every tokenizer against SmolLM2's
own, and the share of evaluation tokens that are new (no row copied from the model): initialisers differ only on
those input rows and in the output softmax, so a target with few new tokens separates them little.

    python benchmarks/tokenizer_transfer.py --quick --json bench_results/tokenizer_transfer_quick.json
    python benchmarks/tokenizer_transfer.py --json bench_results/tokenizer_transfer.json --plot bench_results/tt.png
    python benchmarks/tokenizer_transfer.py --quick --targets gpt2,qwen3,mistral --methods zett,tokenadapt,mean \
        --zett-hypernetwork .cache/zett-smollm2 --no-tokensurgeon --json bench_results/tokenizer_transfer_zett.json

``--ct-steps N`` then continues training every arm of ``--ct-methods`` for N steps with one shared budget (the same
documents in the same order, seed, learning rate; :func:`hf_tokens.tokenizers.continue_training`) and reports the
ratio again, next to the original model trained the same way with its own tokenizer (``original@N``): ZeTT's n-shot
transfer at CPU scale.

    python benchmarks/tokenizer_transfer.py --quick --targets gpt2,qwen3,mistral --methods tokenadapt,mean,focus \
        --tokensurgeon-targets gpt2,qwen3,mistral --ct-steps 20 --json bench_results/tokenizer_transfer_baselines.json

``--quick`` uses fewer and shorter texts, a smaller supertoken training corpus, and limits TokenAdapt's auxiliary
encoder to 4000 new tokens per target (those in the evaluation text first; the rest get a local estimate without
semantic weights) and runs tokensurgeon on the GPT-2 target only: the full run embeds every new token, as the paper
does.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

ROOT = Path(__file__).resolve().parents[1]
MERGEKIT = ROOT / ".venv-mergekit" / "bin" / "mergekit-tokensurgeon"
CORPORA = ("fortunes", "jargon")
TARGETS = ("gpt2", "qwen3", "mistral", "supertokens", "kl3m", "kl3m-char")
KL3M_TARGETS = ("kl3m", "kl3m-char")  # trained here with the KL3M recipe (issue 21 item 3)


def eval_texts(quick: bool, corpora: tuple[str, ...] = CORPORA) -> list[str]:
    from hf_tokens.assets.text import text_chunks

    n, chars = (2, 1000) if quick else (8, 2000)
    return [t for name in corpora for t in text_chunks(name, n, chars, seed=1234)]


def training_texts(held_out: list[str], quick: bool) -> list[str]:
    """The corpora without the held-out chunks, cut into 2000-character documents."""
    from hf_tokens.assets.text import load_text, without

    docs = []
    for name in CORPORA:
        text = without(load_text(name), held_out)
        limit = 700_000 if quick else len(text)
        docs += [text[i : i + 2000] for i in range(0, min(limit, len(text)), 2000)]
    return docs


def placeholder_donor(tokenizer: Any, folder: Path) -> None:
    """A tiny random model carrying ``tokenizer``: tokensurgeon's subword method reads only the donor's vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=1, num_key_value_heads=1, tie_word_embeddings=True,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def run_tokensurgeon(model_dir: Path, tokenizer: Any, work: Path) -> tuple[Any, Any, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    donor, out = work / "donor", work / "out"
    placeholder_donor(tokenizer, donor)
    start = time.perf_counter()
    cmd = [str(MERGEKIT), str(model_dir), str(donor), str(out), "-a", "subword", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"tokensurgeon failed ({proc.returncode}): {proc.stderr[-2000:]}")
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(out), seconds


def kl3m_target(name: str, held_out: list[str], quick: bool) -> Any:
    """The KL3M 32k cased domain BPE ("kl3m") or 8k character BPE ("kl3m-char"), trained as
    ``benchmarks/domain_tokenizers.py`` trains them (train split of its corpora, seed 0), minus the held-out chunks."""
    from benchmarks.data.kl3m_corpora import build_corpora
    from hf_tokens.assets.text import without
    from hf_tokens.tokenizers.kl3m import KL3MConfig, train_kl3m_char_tokenizers, train_kl3m_tokenizer

    corpora = build_corpora(seed=0, max_file_bytes=50_000 if quick else 200_000)
    texts = [without(text, held_out) for corpus in corpora.values() for text in corpus.texts("train")]
    if name == "kl3m":
        return train_kl3m_tokenizer(texts, KL3MConfig(vocab_size=32768))
    return train_kl3m_char_tokenizers(texts, [8192])[8192]


def targets(names: list[str], held_out: list[str], quick: bool, vocab: int) -> dict[str, Any]:
    from hf_tokens.assets import load_tokenizer
    from hf_tokens.tokenizers.supertokens import SupertokenConfig, train_supertokens

    out = {}
    for name in names:
        start = time.perf_counter()
        if name == "supertokens":
            out[name] = train_supertokens(training_texts(held_out, quick), SupertokenConfig(vocab_size=vocab))
        elif name in KL3M_TARGETS:
            out[name] = kl3m_target(name, held_out, quick)
        else:
            out[name] = load_tokenizer(name)
            continue
        print(f"trained the {name} tokenizer ({len(out[name])} tokens) in {time.perf_counter() - start:.0f} s")
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument(
        "--targets", default="gpt2,qwen3,mistral,supertokens", help="comma-separated target tokenizers"
    )
    parser.add_argument(
        "--methods", default="tokenadapt,mean,random", help="comma-separated initialisers (also: zett, focus)"
    )
    parser.add_argument("--no-tokensurgeon", action="store_true", help="skip the mergekit tokensurgeon baseline")
    parser.add_argument(
        "--tokensurgeon-targets", default=None,
        help="comma-separated targets tokensurgeon runs on (default: all; gpt2 only with --quick)",
    )  # fmt: skip
    parser.add_argument("--supertoken-vocab", type=int, default=32768, help="vocabulary of the supertoken tokenizer")
    parser.add_argument(
        "--zett-hypernetwork", type=Path, default=None,
        help="a ZeTT hypernetwork for SmolLM2 (benchmarks/zett_train.py --out); needed by --methods zett",
    )  # fmt: skip
    parser.add_argument(
        "--eval-corpora", default=",".join(CORPORA),
        help="comma-separated hf_tokens.assets.text corpora of the held-out evaluation text (man-en: a domain no "
        "tokenizer, FOCUS model or ZeTT hypernetwork here trains on)",
    )  # fmt: skip
    ct = parser.add_argument_group("continued training after the transfer (0 steps = zero-shot only)")
    ct.add_argument("--ct-steps", type=int, default=0, help="N: continued-training steps, the same for every arm")
    ct.add_argument("--ct-methods", default="zett,tokenadapt,mean,focus", help="arms that get the continued training")
    ct.add_argument("--ct-batch", type=int, default=4, help="documents per step")
    ct.add_argument("--ct-chars", type=int, default=400, help="characters per training document")
    ct.add_argument("--ct-lr", type=float, default=1e-4, help="peak AdamW learning rate")
    ct.add_argument("--ct-warmup", type=int, default=2, help="warm-up steps")
    ct.add_argument("--ct-train", default="all", help="all (every parameter) or embeddings")
    args = parser.parse_args()
    names, methods = args.targets.split(","), args.methods.split(",")
    if bad := [n for n in names if n not in TARGETS]:
        raise SystemExit(f"--targets: unknown {bad}; choose from {', '.join(TARGETS)}")
    from hf_tokens.assets.text import CORPORA as TEXT_CORPORA

    args.eval_corpora = tuple(args.eval_corpora.split(","))
    if bad := [c for c in args.eval_corpora if c not in TEXT_CORPORA]:
        raise SystemExit(f"--eval-corpora: unknown {bad}; choose from {', '.join(TEXT_CORPORA)}")
    if "zett" in methods and args.zett_hypernetwork is None:
        raise SystemExit("--methods zett needs --zett-hypernetwork PATH (train one with benchmarks/zett_train.py)")
    if args.ct_steps < 0:
        raise SystemExit("--ct-steps must be >= 0")
    return args


def make_runs(args: argparse.Namespace, name: str, new_tok: Any, ctx: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, initialiser or name) of every arm; tokensurgeon, FOCUS and ZeTT are built when their turn comes."""
    from hf_tokens.tokenizers.tokenadapt.initializer import TokenAdaptInitializer

    surgeon_on = args.tokensurgeon_targets.split(",") if args.tokensurgeon_targets else None
    surgeon = ctx["surgeon"] and (name in surgeon_on if surgeon_on else not args.quick or name == "gpt2")
    methods = args.methods.split(",")
    if "tokensurgeon" not in methods:
        methods.append("tokensurgeon")  # placed last unless --methods names its position
    runs: list[tuple[str, Any]] = []
    for method in methods:
        if method == "tokenadapt" and args.quick:
            seen = {i for t in ctx["texts"] for i in new_tok(t, add_special_tokens=False)["input_ids"]}
            runs.append((method, TokenAdaptInitializer(max_aux_tokens=4000, priority_ids=sorted(seen))))
        elif method == "tokensurgeon":
            if surgeon:
                runs.append(("tokensurgeon-subword", "tokensurgeon"))
        else:
            runs.append((method, method))
    return runs


def new_token_share(model: Any, tok: Any, new_tok: Any, texts: list[str]) -> float:
    """Fraction of the evaluation tokens (in ``new_tok``'s tokenization) whose rows no initialiser copies from the
    model, i.e. the only input rows on which initialisers differ (all of them also differ in the output softmax)."""
    from hf_tokens.tokenizers.transplantation import build_context

    missing = set(build_context(model, tok, new_tok).missing)
    ids = [i for text in texts for i in new_tok(text, add_special_tokens=False).input_ids]
    return sum(i in missing for i in ids) / len(ids)


def peer_focus(args: argparse.Namespace, new_tok: Any, ctx: dict[str, Any]) -> tuple[Any, float]:
    """FOCUS's rows from its own package (tokenizer_transfer_focus_worker.py), as an initialiser, and its seconds."""
    from tokenizer_transfer_focus_worker import focus_matrix, focus_rows_initializer

    with tempfile.TemporaryDirectory(prefix="focus-") as work:
        matrix, seconds = focus_matrix(
            ctx["model"], ctx["tok"], new_tok, ctx["train_docs"], Path(work), threads=args.threads
        )
    return focus_rows_initializer(matrix), seconds


def continued(args: argparse.Namespace, model: Any, tok: Any, ctx: dict[str, Any]) -> tuple[float, float]:
    """Continue training ``model`` in place with the shared budget; (ppl/char after, seconds)."""
    from hf_tokens.tokenizers import ContinuedTrainingConfig, continue_training, nll_per_char

    config = ContinuedTrainingConfig(
        steps=args.ct_steps, batch_size=args.ct_batch, max_tokens=args.ct_chars, lr=args.ct_lr,
        warmup=min(args.ct_warmup, args.ct_steps), train=args.ct_train, seed=0,
    )  # fmt: skip
    start = time.perf_counter()
    continue_training(model, tok, ctx["ct_docs"], config)
    seconds = time.perf_counter() - start
    return math.exp(nll_per_char(model, tok, ctx["texts"])), seconds


def run_arm(
    args: argparse.Namespace, bench: Benchmark, arm: tuple[str, Any], target: tuple[str, Any], ctx: dict[str, Any]
) -> None:
    """Transplant (or run the peer), evaluate, and continue training when the arm is in --ct-methods."""
    from hf_tokens.assets import model_folder
    from hf_tokens.tokenizers import transplant
    from hf_tokens.tokenizers.evaluation import nll_and_chars, pooled_nll_per_char

    (label, method), (name, new_tok) = arm, target
    start = time.perf_counter()
    if method == "tokensurgeon":
        with tempfile.TemporaryDirectory(prefix="tokensurgeon-") as work:
            new_model, eval_tok, seconds = run_tokensurgeon(model_folder("smollm2-135m"), new_tok, Path(work))
    else:
        if method == "focus":
            method, _ = peer_focus(args, new_tok, ctx)
        elif method == "zett":  # loaded when its turn comes (a training run may still be writing it)
            from hf_tokens.tokenizers.zett.initializer import ZettInitializer

            method = ZettInitializer(args.zett_hypernetwork)
        new_model, eval_tok = transplant(ctx["model"], ctx["tok"], new_tok, method)
        seconds = time.perf_counter() - start
        del method  # the hypernetwork / auxiliary encoder are not needed for training (memory)
        gc.collect()
    parts = nll_and_chars(new_model, eval_tok, ctx["texts"])
    ctx["per_text"][label, name] = [n / c for n, c in parts]
    nll = pooled_nll_per_char(parts)
    row = bench.add(
        f"{label}->{name}", "ppl_per_char", math.exp(nll), baseline="original tokenizer",
        baseline_value=ctx["base_ppl"], target=name, transplant_s=round(seconds, 1),
    )  # fmt: skip
    print(f"{label:>22} -> {name:<12} ppl/char ratio {row['ratio']:.4f}  ({seconds:.0f} s)", flush=True)
    if label in ctx["ct_methods"]:
        ppl, ct_s = continued(args, new_model, eval_tok, ctx)
        row = bench.add(
            f"{label}->{name}@{args.ct_steps}", "ppl_per_char", ppl, baseline="original tokenizer",
            baseline_value=ctx["base_ppl"], target=name, ct_steps=args.ct_steps, ct_s=round(ct_s, 1),
            vs_original_ct=ppl / ctx["original_ct"],
        )  # fmt: skip
        print(
            f"{label:>22} -> {name:<12} after {args.ct_steps} steps: ratio {row['ratio']:.4f} "
            f"(vs original@{args.ct_steps} {ppl / ctx['original_ct']:.4f}; {ct_s:.0f} s)", flush=True,
        )  # fmt: skip


def paired_interval(bench: Benchmark, ctx: dict[str, Any], name: str) -> None:
    """ZeTT vs TokenAdapt on ``name``: per-text ppl/char ratio (geometric mean over texts) with a 95% paired bootstrap
    interval over the evaluation texts, when both arms ran."""
    from hf_tokens.benchmarking import paired_log_ratio

    zett, adapt = ctx["per_text"].get(("zett", name)), ctx["per_text"].get(("tokenadapt", name))
    if zett is None or adapt is None:
        return
    ratio, low, high = paired_log_ratio(zett, adapt)
    row = bench.add(
        f"zett-vs-tokenadapt->{name}", "per_text_ppl_per_char_ratio", ratio, ci_low=low, ci_high=high,
        n_texts=len(zett),
    )  # fmt: skip
    print(f"  zett / tokenadapt on {name}: {row['value']:.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}]", flush=True)


def main() -> None:
    args = parse_args()
    setup_torch(args)
    names, methods = args.targets.split(","), args.methods.split(",")

    from hf_tokens.assets import load_model
    from hf_tokens.tokenizers import nll_per_char
    from hf_tokens.tokenizers.supertokens import chars_per_token

    bench = Benchmark("tokenizer_transfer", "SmolLM2-135M-Instruct (dequantized Q4_1)", args.device, args.quick)
    bench.note("shared 2-core machine; perplexities are deterministic (one evaluation each), times are one run")
    model, tok = load_model("smollm2-135m")
    texts = eval_texts(args.quick, args.eval_corpora)
    if args.eval_corpora != CORPORA:
        bench.note(f"evaluation text: {len(texts)} chunks of {', '.join(args.eval_corpora)}")
    base_nll = nll_per_char(model, tok, texts)
    base_ppl = math.exp(base_nll)
    base_cpt = chars_per_token(tok, texts)
    print(f"original: ppl/char {base_ppl:.4f}, chars/token {base_cpt:.3f} on {len(texts)} texts")
    surgeon = MERGEKIT.is_file() and not args.no_tokensurgeon
    if not surgeon:
        bench.note(f"mergekit tokensurgeon not run ({'disabled' if args.no_tokensurgeon else f'{MERGEKIT} missing'})")
    else:
        bench.note(
            "tokensurgeon (mergekit 0.1.5) runs with -a subword (mean of old-tokenizer subwords); its default OMP and "
            "common-interpolation methods need the donor model's trained embeddings, which are not available offline "
            "for these tokenizers"
        )
    ctx: dict[str, Any] = {"model": model, "tok": tok, "texts": texts, "surgeon": surgeon, "per_text": {}}
    if "focus" in methods or args.ct_steps:
        ctx["train_docs"] = training_texts(texts, quick=False)
        ctx["ct_docs"] = [d[: args.ct_chars] for d in ctx["train_docs"] if len(d) >= args.ct_chars]
    if "focus" in methods:
        bench.note(
            f"FOCUS: deepfocus 1.0.1 (.venv-focus), fastText token-level auxiliary embeddings trained on the "
            f"{len(ctx['train_docs'])} training documents (fortunes + jargon without the held-out chunks, "
            f"{sum(map(len, ctx['train_docs'])) / 1e6:.1f}M characters) tokenized by the target tokenizer; "
            "FOCUS's default min_count=10 leaves rarer tokens to its random initialisation"
        )
    ct_methods = set(args.ct_methods.split(",")) if args.ct_steps else set()
    ctx.update(base_ppl=base_ppl, ct_methods=ct_methods)
    if args.ct_steps:
        tokens = args.ct_steps * args.ct_batch
        bench.note(
            f"continued training: {args.ct_steps} AdamW steps x {args.ct_batch} documents of {args.ct_chars} "
            f"characters ({tokens} documents, {tokens * args.ct_chars / 1e3:.0f}k characters, the same text in the "
            f"same order for every arm), peak lr {args.ct_lr}, {args.ct_train} parameters, 1 CPU thread; the "
            f"original model gets the same training with its own tokenizer (original@{args.ct_steps})"
        )
        original = copy.deepcopy(model)
        ct_ppl, ct_s = continued(args, original, tok, ctx)
        del original
        ctx["original_ct"] = ct_ppl
        bench.add(
            f"original@{args.ct_steps}", "ppl_per_char", ct_ppl, baseline="original tokenizer",
            baseline_value=base_ppl, ct_steps=args.ct_steps, ct_s=round(ct_s, 1),
        )  # fmt: skip
        print(f"original@{args.ct_steps}: ppl/char {ct_ppl:.4f} ({ct_s:.0f} s)", flush=True)
    for name, new_tok in targets(names, texts, args.quick, args.supertoken_vocab).items():
        cpt = chars_per_token(new_tok, texts)
        bench.add(f"tokenizer:{name}", "chars_per_token", cpt, baseline="smollm2 tokenizer", baseline_value=base_cpt)
        bench.add(f"tokenizer:{name}", "new_token_share", new_token_share(model, tok, new_tok, texts))
        for label, method in make_runs(args, name, new_tok, ctx):
            try:
                run_arm(args, bench, (label, method), (name, new_tok), ctx)
            except Exception as exc:  # one failing arm (a peer library, a missing file) must not lose the others
                bench.note(f"{label}->{name} failed: {type(exc).__name__}: {str(exc)[-300:]}")
                print(f"{label} -> {name} FAILED: {exc!r}", flush=True)
            gc.collect()  # free the last arm's model and optimiser before the next one (reference cycles)
            if args.json:  # rows so far, in case a long run is stopped; finish() overwrites it
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps({**bench.to_dict(), "partial": True}, indent=1))
        paired_interval(bench, ctx, name)
    data = bench.finish(args.json)
    if args.plot:
        plot(data, names, args.plot)


def plot(data: dict[str, Any], names: list[str], path: Path) -> None:
    """Grouped bars of the ppl/char ratio per target tokenizer and method (log scale: random is far off)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in data["rows"] if r["metric"] == "ppl_per_char"]
    methods = list(dict.fromkeys(r["method"].split("->")[0] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        xs, ys = [], []
        for r in rows:
            if r["method"].split("->")[0] == method:
                xs.append(names.index(r["target"]) + (k - (len(methods) - 1) / 2) * width)
                ys.append(r["ratio"])
        ax.bar(xs, ys, width=width, label=method)
    ax.axhline(1.0, color="grey", linestyle="--", label="original tokenizer")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("ppl/char ratio (new / original)")
    ax.set_title("SmolLM2-135M, zero-shot tokenizer transfer (lower is better)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
