"""Tokenizer transfer: the bundled SmolLM2-135M moved, with no training, to other tokenizers.

For each target tokenizer (GPT-2, Qwen3, Mistral, and a supertoken BPE trained here on offline text) and each
initialiser (TokenAdapt, mean of subtokens, random, a ZeTT hypernetwork given with ``--zett-hypernetwork``, and
mergekit's tokensurgeon when it is installed in ``.venv-mergekit``) it reports the zero-shot perplexity per character
on held-out English text (Debian fortunes and the Jargon File, chunks that the supertoken tokenizer never saw),
divided by the original model's: 1.0 means nothing was lost. Per character, so tokenizers that cut the text
differently compare fairly. It also reports compression (characters per token) of every tokenizer against SmolLM2's
own.

    python benchmarks/tokenizer_transfer.py --quick --json bench_results/tokenizer_transfer_quick.json
    python benchmarks/tokenizer_transfer.py --json bench_results/tokenizer_transfer.json --plot bench_results/tt.png
    python benchmarks/tokenizer_transfer.py --quick --targets gpt2,qwen3,mistral --methods zett,tokenadapt,mean \
        --zett-hypernetwork .cache/zett-smollm2 --no-tokensurgeon --json bench_results/tokenizer_transfer_zett.json

``--quick`` uses fewer and shorter texts, a smaller supertoken training corpus, and limits TokenAdapt's auxiliary
encoder to 4000 new tokens per target (those in the evaluation text first; the rest get a local estimate without
semantic weights) and runs tokensurgeon on the GPT-2 target only: the full run embeds every new token, as the paper
does.
"""

from __future__ import annotations

import argparse
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


def eval_texts(quick: bool) -> list[str]:
    from hf_tokens.assets.text import text_chunks

    n, chars = (2, 1000) if quick else (8, 2000)
    return [t for name in CORPORA for t in text_chunks(name, n, chars, seed=1234)]


def training_texts(held_out: list[str], quick: bool) -> list[str]:
    """The corpora without the held-out chunks, cut into 2000-character documents."""
    from hf_tokens.assets.text import load_text

    docs = []
    for name in CORPORA:
        text = load_text(name)
        for chunk in held_out:
            text = text.replace(chunk, "\n")
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


def targets(names: list[str], held_out: list[str], quick: bool, vocab: int) -> dict[str, Any]:
    from hf_tokens.assets import load_tokenizer
    from hf_tokens.tokenizers.supertokens import SupertokenConfig, train_supertokens

    out = {}
    for name in names:
        if name == "supertokens":
            start = time.perf_counter()
            out[name] = train_supertokens(training_texts(held_out, quick), SupertokenConfig(vocab_size=vocab))
            print(f"trained the supertoken tokenizer ({len(out[name])} tokens) in {time.perf_counter() - start:.0f} s")
        else:
            out[name] = load_tokenizer(name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument(
        "--targets", default="gpt2,qwen3,mistral,supertokens", help="comma-separated target tokenizers"
    )
    parser.add_argument("--methods", default="tokenadapt,mean,random", help="comma-separated initialisers")
    parser.add_argument("--no-tokensurgeon", action="store_true", help="skip the mergekit tokensurgeon baseline")
    parser.add_argument("--supertoken-vocab", type=int, default=32768, help="vocabulary of the supertoken tokenizer")
    parser.add_argument(
        "--zett-hypernetwork", type=Path, default=None,
        help="a ZeTT hypernetwork for SmolLM2 (benchmarks/zett_train.py --out); needed by --methods zett",
    )  # fmt: skip
    args = parser.parse_args()
    setup_torch(args)
    names, methods = args.targets.split(","), args.methods.split(",")
    if bad := [n for n in names if n not in ("gpt2", "qwen3", "mistral", "supertokens")]:
        raise SystemExit(f"--targets: unknown {bad}; choose from gpt2, qwen3, mistral, supertokens")
    if "zett" in methods and args.zett_hypernetwork is None:
        raise SystemExit("--methods zett needs --zett-hypernetwork PATH (train one with benchmarks/zett_train.py)")

    from hf_tokens.assets import load_model, model_folder
    from hf_tokens.tokenizers import nll_per_char, transplant
    from hf_tokens.tokenizers.supertokens import chars_per_token
    from hf_tokens.tokenizers.tokenadapt.initializer import TokenAdaptInitializer

    bench = Benchmark("tokenizer_transfer", "SmolLM2-135M-Instruct (dequantized Q4_1)", args.device, args.quick)
    bench.note("shared 2-core machine; perplexities are deterministic (one evaluation each), times are one run")
    model, tok = load_model("smollm2-135m")
    texts = eval_texts(args.quick)
    base_nll = nll_per_char(model, tok, texts)
    base_cpt = chars_per_token(tok, texts)
    print(f"original: ppl/char {math.exp(base_nll):.4f}, chars/token {base_cpt:.3f} on {len(texts)} texts")
    surgeon = MERGEKIT.is_file() and not args.no_tokensurgeon
    if not surgeon:
        bench.note(f"mergekit tokensurgeon not run ({'disabled' if args.no_tokensurgeon else f'{MERGEKIT} missing'})")
    else:
        bench.note(
            "tokensurgeon (mergekit 0.1.5) runs with -a subword (mean of old-tokenizer subwords); its default OMP and "
            "common-interpolation methods need the donor model's trained embeddings, which are not available offline "
            "for these tokenizers"
        )
    for name, new_tok in targets(names, texts, args.quick, args.supertoken_vocab).items():
        cpt = chars_per_token(new_tok, texts)
        bench.add(f"tokenizer:{name}", "chars_per_token", cpt, baseline="smollm2 tokenizer", baseline_value=base_cpt)
        runs: list[tuple[str, Any]] = []
        for method in methods:
            if method == "tokenadapt" and args.quick:
                seen = {i for t in texts for i in new_tok(t, add_special_tokens=False)["input_ids"]}
                runs.append((method, TokenAdaptInitializer(max_aux_tokens=4000, priority_ids=sorted(seen))))
            elif method == "zett":
                from hf_tokens.tokenizers.zett.initializer import ZettInitializer

                runs.append((method, ZettInitializer(args.zett_hypernetwork)))
            else:
                runs.append((method, method))
        if surgeon and (not args.quick or name == "gpt2"):  # --quick: the peer library on one target only
            runs.append(("tokensurgeon-subword", None))
        for label, method in runs:
            start = time.perf_counter()
            if method is None:
                with tempfile.TemporaryDirectory(prefix="tokensurgeon-") as work:
                    new_model, eval_tok, seconds = run_tokensurgeon(model_folder("smollm2-135m"), new_tok, Path(work))
            else:
                new_model, eval_tok = transplant(model, tok, new_tok, method)
                seconds = time.perf_counter() - start
            nll = nll_per_char(new_model, eval_tok, texts)
            del new_model
            row = bench.add(
                f"{label}->{name}", "ppl_per_char", math.exp(nll), baseline="original tokenizer",
                baseline_value=math.exp(base_nll), target=name, transplant_s=round(seconds, 1),
            )  # fmt: skip
            print(f"{label:>22} -> {name:<12} ppl/char ratio {row['ratio']:.4f}  ({seconds:.0f} s)", flush=True)
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
