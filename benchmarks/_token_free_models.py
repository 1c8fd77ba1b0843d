"""Part ``models`` of benchmarks/token_free.py: the token-free model classes against subword and byte baselines.

Arms (one corpus, one held-out split, the same steps, batch, seed and bytes per training window of 256 bytes; model
widths chosen so the non-embedding parameter counts are close, stated per row):

- ``bytes``: a plain Llama over bytes; ``subword``: the same Llama over SmolLM2's tokenizer (64-token windows);
- ``learn-your-tokens`` and ``hierarchical-ar`` (HAT): byte encoder -> word backbone -> byte decoder;
- ``lexinvariant``: the byte Llama without fixed embeddings (a fresh random matrix per sequence);
- ``megabyte``: the peer architecture for the hierarchical arms, MEGABYTE from ``megabyte-pytorch`` (fixed patches of
  8 bytes: global 96-wide x 2 layers over patches, local 64-wide x 1 layer over bytes, sized like HAT's byte encoder /
  word backbone / byte decoder; ``benchmarks/_token_free_megabyte.py``), trained by the same loop and loss as the byte
  Llama. ``--arms`` picks the arms (bytes and subword, the baselines, always run).

Metrics: held-out bits per byte; next-word accuracy (greedy decoding of the whole next word from 256 bytes of context,
exact match) overall and on words seen at most once in training; generation throughput (bytes/s, greedy, 64 bytes);
units per byte; the change of bits per byte under typos (adjacent letters swapped in 15% of words) and casing
(15% of words upper-cased); lexinvariant's bits per byte by context position relative to the byte Llama, and the
change of bits per byte on a letter-substitution cipher of the held-out text (the paper's in-context deciphering:
a lexinvariant LM should not care, a standard LM should).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from _token_free_data import corpus

from hf_tokens.benchmarking import Benchmark, measure
from hf_tokens.models.lm_training import TrainingBudget, stream_nll, tiny_llama, train_on_stream

WINDOW = 256  # bytes of context per training window and evaluation window
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "token_free"


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class Arm:
    """One model plus how text becomes its ids and back."""

    def __init__(self, name: str, model: Any, tokenizer: Any = None, loss: Any = None) -> None:
        self.name, self.model, self.tokenizer, self.loss = name, model, tokenizer, loss

    def ids(self, text: str) -> torch.Tensor:
        if self.tokenizer is None:
            return torch.tensor(list(text.encode("utf-8")))
        return torch.tensor(self.tokenizer(text, add_special_tokens=False).input_ids)

    def decode(self, ids: list[int]) -> str:
        if self.tokenizer is None:
            return bytes(ids).decode("utf-8", "replace")
        return self.tokenizer.decode(ids)

    @property
    def seq_len(self) -> int:
        return WINDOW // 4 if self.tokenizer is not None else WINDOW

    def params(self) -> tuple[int, int]:
        total = sum(p.numel() for p in self.model.parameters())
        emb = sum(
            m.weight.numel()
            for m in self.model.modules()
            if isinstance(m, torch.nn.Embedding) and m.weight.shape[0] >= 256
        )
        return total, total - emb


ARMS = ("bytes", "subword", "learn-your-tokens", "hierarchical-ar", "lexinvariant", "megabyte")


def build_arms(seed: int, names: tuple[str, ...] = ARMS) -> list[Arm]:
    from hf_tokens.assets import load_tokenizer
    from hf_tokens.models.hierarchical_ar import HierarchicalARConfig, HierarchicalARForCausalLM
    from hf_tokens.models.learn_your_tokens import LearnYourTokensConfig, LearnYourTokensForCausalLM
    from hf_tokens.models.lexinvariant import LexinvariantConfig, LexinvariantForCausalLM

    def byte_loss(model: Any, windows: torch.Tensor) -> torch.Tensor:
        return model(input_ids=windows, labels=windows).loss

    words = {"byte_dim": 64, "word_dim": 96, "heads": 4, "encoder_layers": 1, "backbone_layers": 2,
             "decoder_layers": 1, "max_word_bytes": 16, "max_words": WINDOW + 1}  # fmt: skip
    llama = {"hidden": 96, "layers": 2, "max_len": WINDOW + 1}
    unknown = sorted(set(names) - set(ARMS))
    if unknown:
        raise ValueError(f"arms: unknown {unknown}; choose from {list(ARMS)}")
    arms = []
    for name in (n for n in ARMS if n in names):
        torch.manual_seed(seed)
        if name == "bytes":
            arms.append(Arm(name, tiny_llama(256, **llama)))
        elif name == "subword":
            tok = load_tokenizer("smollm2")
            arms.append(Arm(name, tiny_llama(len(tok), **llama), tokenizer=tok))
        elif name == "learn-your-tokens":
            arms.append(Arm(name, LearnYourTokensForCausalLM(LearnYourTokensConfig(**words)), loss=byte_loss))
        elif name == "hierarchical-ar":
            arms.append(Arm(name, HierarchicalARForCausalLM(HierarchicalARConfig(**words)), loss=byte_loss))
        elif name == "megabyte":
            from _token_free_megabyte import MegabyteLM

            arms.append(Arm(name, MegabyteLM(dims=(96, 64), depths=(2, 1), patch_size=8, max_len=WINDOW)))
        else:
            config = LexinvariantConfig(
                vocab_size=256, hidden_size=96, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=4, max_position_embeddings=WINDOW + 1, bos_token_id=None, eos_token_id=None,
                pad_token_id=None,
            )  # fmt: skip
            arms.append(Arm(name, LexinvariantForCausalLM(config)))
    return arms


def bits_per_byte(arm: Arm, text: str) -> tuple[float, torch.Tensor]:
    """Held-out bits per byte, and the per-id NLL (bits) of every predicted id."""
    ids = arm.ids(text)
    nll = stream_nll(arm.model, ids, seq_len=arm.seq_len) / math.log(2)
    covered = len(text.encode("utf-8")) - len(arm.decode(ids[:1].tolist()).encode("utf-8"))
    return float(nll.sum()) / covered, nll


@torch.no_grad()
def next_word(arm: Arm, context: str, max_units: int = 16) -> str:
    """Greedy continuation of ``context`` up to the end of the next word (its first whitespace)."""
    ids = arm.ids(context)[-(arm.seq_len - max_units) :][None]
    out: list[int] = []
    for _ in range(max_units):
        token = int(
            arm.model(input_ids=torch.cat([ids, torch.tensor([out], dtype=torch.long)], 1)).logits[0, -1].argmax()
        )
        out.append(token)
        text = arm.decode(out)
        if re.search(r"\s", text.lstrip(" ")):
            break
    return arm.decode(out)


def _word_of(text: str) -> str:
    text = text.lstrip(" ")
    m = re.match(r"\S*", text)
    return m.group(0) if m else ""


def word_positions(test: list[str], n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (context, next word) pairs: a word boundary (a space) in a held-out chunk, >= 64 bytes into it."""
    rng = random.Random(seed)
    pairs = []
    for chunk in test:
        cuts = [m.start() for m in re.finditer(r"(?<=\S) (?=\w)", chunk) if m.start() >= 64]
        for cut in rng.sample(cuts, min(len(cuts), n // len(test) + 1)):
            pairs.append((chunk[:cut], _word_of(chunk[cut:])))
    return pairs[:n]


def perturb(text: str, kind: str, seed: int, rate: float = 0.15) -> str:
    rng = random.Random(seed)

    def one(m: re.Match[str]) -> str:
        w = m.group(0)
        if rng.random() >= rate:
            return w
        if kind == "case":
            return w.upper()
        i = rng.randrange(len(w) - 1)
        return w[:i] + w[i + 1] + w[i] + w[i + 2 :]

    return re.sub(r"[A-Za-z]{3,}", one, text)


def cipher(text: str, seed: int) -> str:
    """A substitution cipher of the letters (one random permutation of a-z, applied to both cases)."""
    letters = list("abcdefghijklmnopqrstuvwxyz")
    shuffled = letters[:]
    random.Random(seed).shuffle(shuffled)
    table = {**dict(zip(letters, shuffled)), **{a.upper(): b.upper() for a, b in zip(letters, shuffled)}}
    return "".join(table.get(c, c) for c in text)


def run(bench: Benchmark, args: argparse.Namespace) -> None:
    steps = max(10, round((50 if args.quick else 250) * args.scale))
    n_words = 60 if args.quick else 200
    budget = TrainingBudget(steps=steps, batch_size=16, seed=args.seed)
    train, test = corpus(120_000 if args.quick else 480_000, 8_000 if args.quick else 24_000, seed=args.seed)
    train_text, test_text = "".join(train), "".join(test)
    bench.note(
        f"{steps} steps x 16 windows of {WINDOW} bytes (subword: 64 tokens) per arm, seed {args.seed}; "
        f"train {len(train_text)} chars, held-out {len(test_text)} chars from 4 domains; next-word accuracy over "
        f"{n_words} held-out word boundaries (rare: the word occurs <= 1 times in training)"
    )
    counts = Counter(re.findall(r"\S+", train_text))
    pairs = word_positions(test, n_words, args.seed)
    rare = [i for i, (_, w) in enumerate(pairs) if counts[w] <= 1]
    perturbed = {k: "".join(perturb(t, k, args.seed) for t in test) for k in ("typo", "case")}
    ciphered = cipher(test_text, args.seed)
    loaded = {} if args.baselines_from is None else _baselines_from(args.baselines_from, args.arms)
    names = tuple(dict.fromkeys((*(b for b in ("bytes", "subword") if b not in loaded), *args.arms)))
    bench.note(f"arms: {', '.join(n for n in ARMS if n in names)}")
    if loaded:
        bench.note(
            f"baselines {', '.join(loaded)} not retrained: their values are read from {args.baselines_from} (a run "
            "with the same corpus, split, steps, batch and seed); a bytes_per_s baseline read from there was measured "
            "in that run, under its own load"
        )
    if "megabyte" in names:
        from importlib.metadata import version

        bench.note(
            f"megabyte: megabyte-pytorch {version('megabyte-pytorch')}, patches of 8 bytes, global stage 96 wide x 2 "
            "layers, local stage 64 wide x 1 layer, learned positions; trained with the byte Llama's loss; its "
            "generate re-runs the whole model per byte (the package has no KV cache), so its bytes/s is a lower bound"
        )
    results: dict[str, dict[str, Any]] = dict(loaded)
    for arm in build_arms(args.seed, names):
        _log(f"training {arm.name} ({arm.params()[1]} non-embedding parameters)")
        start = time.time()
        train_on_stream(arm.model, arm.ids(train_text), seq_len=arm.seq_len, budget=budget, loss_fn=arm.loss)
        r: dict[str, Any] = {"train_seconds": time.time() - start}
        r["total_params"], r["non_embedding_params"] = arm.params()
        r["bpb"], nll = bits_per_byte(arm, test_text)
        r["units_per_byte"] = len(arm.ids(test_text)) / len(test_text.encode("utf-8"))
        for kind, text in perturbed.items():
            r[f"bpb_{kind}"] = bits_per_byte(arm, text)[0]
        hits = [_word_of(next_word(arm, ctx)) == word for ctx, word in pairs]
        r["next_word_acc"] = sum(hits) / len(hits)
        r["next_word_acc_rare"] = sum(hits[i] for i in rare) / max(1, len(rare))
        prompt = arm.ids(test[0][: WINDOW // 2])[None]
        new = WINDOW // 4 if arm.tokenizer is None else WINDOW // 16
        gen = measure(lambda m=arm.model, p=prompt, n=new: m.generate(p, max_new_tokens=n, do_sample=False), repeats=3)
        out = arm.model.generate(prompt, max_new_tokens=new, do_sample=False)[0, prompt.shape[1] :].tolist()
        r["bytes_per_s"] = len(arm.decode(out).encode("utf-8")) / gen.median
        if arm.name in ("bytes", "lexinvariant"):
            r["bpb_cipher"] = bits_per_byte(arm, ciphered)[0]
            pos = torch.arange(nll.numel()) % arm.seq_len
            r["by_position"] = {
                f"{a}-{b}": float(nll[(pos >= a) & (pos < b)].mean()) for a, b in ((0, 16), (16, 64), (64, 256))
            }
        results[arm.name] = r
        _log(f"{arm.name}: { ({k: v for k, v in r.items() if k != 'by_position'}) }")
        if args.save_checkpoints and arm.name in ("learn-your-tokens", "hierarchical-ar", "lexinvariant"):
            from hf_tokens.hub import save_for_hub

            save_for_hub(
                arm.model, CACHE / arm.name, method_id=arm.name, overwrite=True,
                training=f"benchmarks/token_free.py --part models: {steps} steps x 16 x {WINDOW} bytes, 1 CPU thread",
            )  # fmt: skip
    _report(bench, results, len(pairs), len(rare))


def _baselines_from(path: Path, arms: list[str]) -> dict[str, dict[str, Any]]:
    """The bytes/subword results of an earlier run's JSON, for the baselines not among ``arms``."""
    import json

    rows = json.loads(Path(path).read_text(encoding="utf-8"))["rows"]
    out: dict[str, dict[str, Any]] = {}
    for base in ("bytes", "subword"):
        if base in arms:
            continue
        got = {r["metric"]: r for r in rows if r["method"] == base and r["baseline"] in (None, "subword", "bytes")}
        try:
            out[base] = {m: got[m]["value"] for m in ("next_word_acc", "next_word_acc_rare", "bytes_per_s")}
            out[base]["bpb"] = got["bits_per_byte"]["value"]
            for kind in ("typo", "case"):
                out[base][f"bpb_{kind}"] = got[f"bpb_change_{kind}"]["perturbed_bpb"]
            out[base]["total_params"] = got["bits_per_byte"]["total_params"]
            out[base]["non_embedding_params"] = got["bits_per_byte"]["non_embedding_params"]
        except KeyError as exc:
            raise SystemExit(f"--baselines-from {path}: no {base} row for {exc}") from None
        out[base]["loaded"] = True
    return out


def _report(bench: Benchmark, results: dict[str, dict[str, Any]], n_pairs: int, n_rare: int) -> None:
    for name, r in results.items():
        if r.get("loaded"):
            continue
        common = {"total_params": r["total_params"], "non_embedding_params": r["non_embedding_params"]}
        for base in ("subword", "bytes"):
            if name != base:
                bench.add(
                    name,
                    f"bits_per_byte_vs_{base}",
                    r["bpb"],
                    baseline=base,
                    baseline_value=results[base]["bpb"],
                    **common,
                )
        bench.add(
            name,
            "bits_per_byte",
            r["bpb"],
            units_per_byte=r["units_per_byte"],
            train_seconds=r["train_seconds"],
            **common,
        )
        for metric, n in (("next_word_acc", n_pairs), ("next_word_acc_rare", n_rare)):
            for base in ("subword", "bytes"):
                if name != base:
                    bench.add(
                        name,
                        f"{metric}_vs_{base}",
                        r[metric],
                        baseline=base,
                        baseline_value=results[base][metric],
                        n=n,
                    )
            bench.add(name, metric, r[metric], n=n)
        bench.add(
            name, "bytes_per_s", r["bytes_per_s"], baseline="bytes", baseline_value=results["bytes"]["bytes_per_s"]
        )
        for kind in ("typo", "case"):
            change = r[f"bpb_{kind}"] / r["bpb"] - 1
            base_change = results["subword"][f"bpb_{kind}"] / results["subword"]["bpb"] - 1
            bench.add(
                name,
                f"bpb_change_{kind}",
                change,
                baseline="subword",
                baseline_value=base_change,
                clean_bpb=r["bpb"],
                perturbed_bpb=r[f"bpb_{kind}"],
            )
    if "lexinvariant" not in results or results["bytes"].get("loaded"):
        return
    lex, ref = results["lexinvariant"]["by_position"], results["bytes"]["by_position"]
    for bucket in lex:
        bench.add(
            "lexinvariant", f"bpb_at_context_{bucket}", lex[bucket], baseline="bytes", baseline_value=ref[bucket]
        )
    for name in ("bytes", "lexinvariant"):
        r = results[name]
        extra = {"clean_bpb": r["bpb"], "cipher_bpb": r["bpb_cipher"]}
        bench.add(name, "bpb_cipher_change", r["bpb_cipher"] / r["bpb"] - 1, **extra)
