"""Seeded, offline data sets for ``benchmarks/detection.py`` (membership inference and LLM-text detection).

Each subcommand writes a JSONL file (one ``{"text", "label", ...}`` object per line) under ``--out`` (default
``.cache/detection/``, git-ignored) and prints what it holds:

- ``membership-controlled``: ``2n`` chunks of ``--chars`` characters from the offline corpora (jargon file, man-page-
  free English: ``jargon`` and ``licenses``); a LoRA adapter (peft) is trained on SmolLM2-135M for ``--epochs``
  epochs over one half (label 1, members); the other half are non-members (label 0). The adapter is saved with
  ``hf_tokens.hub.save_for_hub`` (card included) next to the JSONL; the budget (epochs, steps, seconds, threads) is
  recorded in ``membership_controlled.meta.json``.
- ``membership-natural``: stanzas of the Debian changelogs installed on this machine
  (``/usr/share/doc/*/changelog.Debian.gz``), dated up to ``--before`` (label 1: written before SmolLM2's training
  data was collected; SmolLM2 was released in November 2024) vs dated from ``--after`` on (label 0: written after
  the model existed). Whether an old stanza was really in SmolLM2's training data is unknown: a natural, noisy
  setting, as the paper's WikiMIA is.
- ``llm-text``: human texts (chunks of the ``jargon``, ``licenses`` and ``python-stdlib`` corpora, label 0) and
  machine texts (label 1) sampled by SmolLM2 at temperature 1 (pure sampling: the zero-shot test's null hypothesis)
  from the same human prefixes (``--prefix-tokens``), each continuation exactly as long in tokens as the human one
  (``--tokens``). Each row holds ``prefix`` and ``continuation`` too. With ``--generator lora`` the machine texts
  come from SmolLM2 + the membership LoRA adapter instead (LLM B of the paper's attribution setting; same prefixes);
  with ``--generator qwen`` from Qwen2.5-Coder-0.5B (same prefix texts re-encoded in Qwen's tokens; its continuation
  re-encoded in SmolLM2's tokens and cut to ``--tokens``; PAWN's cross-generator split). ``--top-p P`` below 1 samples
  from the nucleus instead (the decoding of a deployed chat model; file suffix ``_top_p<P>``).

    PYTHONPATH=. python benchmarks/data/detection_data.py membership-controlled --n 40 --epochs 3
    PYTHONPATH=. python benchmarks/data/detection_data.py membership-natural --n 40
    PYTHONPATH=. python benchmarks/data/detection_data.py llm-text --n 40 --tokens 128
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import time
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(".cache/detection")


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)
    labels = [r["label"] for r in rows]
    print(f"wrote {path}: {len(rows)} texts ({sum(labels)} label 1, {len(labels) - sum(labels)} label 0)")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _chunks(n: int, chars: int, seed: int, corpora: tuple[str, ...]) -> list[tuple[str, str]]:
    from hf_tokens.assets.text import text_chunks

    per = -(-n // len(corpora))
    out = [(name, t) for name in corpora for t in text_chunks(name, per, chars, seed=seed)]
    random.Random(seed).shuffle(out)
    return out[:n]


def membership_controlled(args: argparse.Namespace) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from hf_tokens.assets import load_model
    from hf_tokens.hub import save_for_hub

    torch.manual_seed(args.seed)
    texts = _chunks(2 * args.n, args.chars, args.seed, ("jargon", "licenses"))
    rows = [{"text": t, "label": int(i < args.n), "corpus": c} for i, (c, t) in enumerate(texts)]
    model, tok = load_model("smollm2-135m", dtype=torch.float32)
    lora = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = get_peft_model(model, lora)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    members = [r["text"] for r in rows if r["label"]]
    start, steps = time.time(), 0
    for epoch in range(args.epochs):
        order = random.Random(args.seed + epoch).sample(members, len(members))
        for i in range(0, len(order), args.batch):
            batch = tok(order[i : i + args.batch], return_tensors="pt", padding=True)
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            loss = model(**batch, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        print(f"epoch {epoch + 1}/{args.epochs}: last loss {loss.item():.3f} ({time.time() - start:.0f} s)")
    model.eval()
    out = Path(args.out)
    save_for_hub(model, out / "membership_lora", method_id="dc-pdd", tokenizer=tok, overwrite=True)
    _write(out / "membership_controlled.jsonl", rows)
    meta = {"epochs": args.epochs, "steps": steps, "seconds": round(time.time() - start, 1), "lr": args.lr,
            "rank": args.rank, "batch": args.batch, "threads": torch.get_num_threads(), "n_per_class": args.n,
            "chars": args.chars, "seed": args.seed}  # fmt: skip
    (out / "membership_controlled.meta.json").write_text(json.dumps(meta, indent=1))
    print(json.dumps(meta))


_STANZA_END = re.compile(r"^ -- .*?,\s+(\d{1,2}) (\w{3}) (\d{4}) ", re.M)


def changelog_stanzas(root: Path = Path("/usr/share/doc")) -> list[tuple[int, str, str]]:
    """(year, package, stanza text without its trailer line) of every installed Debian changelog."""
    out = []
    for path in sorted(root.glob("*/changelog.Debian.gz")):
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        begin = 0
        for m in _STANZA_END.finditer(text):
            body = text[begin : m.start()].strip()
            begin = text.find("\n", m.end()) + 1
            if body:
                out.append((int(m.group(3)), path.parent.name, body))
    return out


def membership_natural(args: argparse.Namespace) -> None:
    stanzas = [s for s in changelog_stanzas() if len(s[2]) >= args.min_chars]
    old = [s for s in stanzas if s[0] <= args.before]
    new = [s for s in stanzas if s[0] >= args.after]
    rng = random.Random(args.seed)
    n = min(args.n, len(old), len(new))
    pick = [(1, s) for s in rng.sample(old, n)] + [(0, s) for s in rng.sample(new, n)]
    rows = [{"text": s[2][: args.chars], "label": y, "year": s[0], "package": s[1]} for y, s in pick]
    print(f"{len(old)} stanzas dated <= {args.before}, {len(new)} dated >= {args.after}; taking {n} of each")
    _write(Path(args.out) / "membership_natural.jsonl", rows)


def llm_text(args: argparse.Namespace) -> None:
    import torch

    from hf_tokens.assets import load_model

    torch.manual_seed(args.seed)
    model, tok = load_model("smollm2-135m", dtype=torch.float32)
    generator, gen_tok = "smollm2-135m", tok
    if args.generator == "lora":  # LLM B of the attribution setting: SmolLM2 + the membership LoRA adapter
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(Path(args.out) / "membership_lora")).merge_and_unload().eval()
        generator = "smollm2-135m+lora"
    if args.generator == "qwen":  # a different model family (PAWN's cross-generator split); prefixes re-encoded
        model, gen_tok = load_model("qwen2.5-coder-0.5b", dtype=torch.float32)
        generator = "qwen2.5-coder-0.5b"
    need = args.prefix_tokens + args.tokens
    rows: list[dict[str, Any]] = []
    sources = _chunks(3 * args.n, 4 * need + 400, args.seed, ("jargon", "licenses", "python-stdlib"))
    pairs = []
    for corpus, text in sources:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if len(ids) >= need:
            pairs.append((corpus, ids[: args.prefix_tokens], ids[args.prefix_tokens : need]))
        if len(pairs) == args.n:
            break
    start = time.time()
    for i in range(0, len(pairs), args.batch):
        chunk = pairs[i : i + args.batch]
        prefix = torch.tensor([p for _, p, _ in chunk])
        mask = torch.ones_like(prefix)
        if args.generator == "qwen":  # the same prefix texts in Qwen's tokens, left-padded
            enc = [gen_tok(tok.decode(p), add_special_tokens=False)["input_ids"] for _, p, _ in chunk]
            width = max(map(len, enc))
            pad = gen_tok.pad_token_id if gen_tok.pad_token_id is not None else gen_tok.eos_token_id
            prefix = torch.tensor([[pad] * (width - len(e)) + e for e in enc])
            mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in enc])
        with torch.no_grad():
            gen = model.generate(
                prefix, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0, top_p=args.top_p,
                max_new_tokens=args.tokens, min_new_tokens=args.tokens,
                pad_token_id=(gen_tok if args.generator == "qwen" else tok).pad_token_id,
            )  # fmt: skip
        machines = gen[:, prefix.shape[1] :].tolist()
        if args.generator == "qwen":  # Qwen's text in SmolLM2's tokens (matched length: SmolLM2's token count)
            machines = [tok(gen_tok.decode(m), add_special_tokens=False)["input_ids"][: args.tokens] for m in machines]
        for (corpus, p, human), machine in zip(chunk, machines):
            for label, cont in ((0, human), (1, machine)):
                rows.append({"prefix": tok.decode(p), "continuation": tok.decode(cont), "prefix_ids": p,
                             "continuation_ids": cont, "text": tok.decode(p + cont), "label": label,
                             "corpus": corpus, "generator": "human" if label == 0 else generator,
                             "top_p": args.top_p})  # fmt: skip
        print(f"generated {min(i + args.batch, len(pairs))}/{len(pairs)} ({time.time() - start:.0f} s)")
    suffix = (
        ("" if args.generator == "base" else f"_{args.generator}")
        + ("" if args.top_p == 1.0 else f"_top_p{args.top_p:g}")
        + args.tag
    )
    _write(Path(args.out) / f"llm_text_{args.tokens}{suffix}.jsonl", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("membership-controlled", "membership-natural", "llm-text"):
        p = sub.add_parser(name)
        p.add_argument("--n", type=int, default=40, help="texts per class")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--out", default=str(DEFAULT_OUT))
        p.add_argument("--threads", type=int, default=1)
    c = sub.choices["membership-controlled"]
    c.add_argument("--chars", type=int, default=400)
    c.add_argument("--epochs", type=int, default=3)
    c.add_argument("--lr", type=float, default=2e-3)
    c.add_argument("--rank", type=int, default=16)
    c.add_argument("--batch", type=int, default=4)
    nat = sub.choices["membership-natural"]
    nat.add_argument("--before", type=int, default=2022, help="members: stanzas dated up to this year")
    nat.add_argument("--after", type=int, default=2025, help="non-members: stanzas dated from this year on")
    nat.add_argument("--chars", type=int, default=600)
    nat.add_argument("--min-chars", type=int, default=200)
    g = sub.choices["llm-text"]
    g.add_argument("--tokens", type=int, default=128, help="continuation length in tokens (human and machine)")
    g.add_argument("--prefix-tokens", type=int, default=32)
    g.add_argument("--batch", type=int, default=8)
    g.add_argument("--generator", choices=["base", "lora", "qwen"], default="base",
                   help="base: SmolLM2; lora: SmolLM2 + the membership-controlled LoRA adapter (LLM B)")  # fmt: skip
    g.add_argument("--top-p", type=float, default=1.0,
                   help="nucleus sampling (1: pure sampling, the zero-shot test's null; <1: typical chat decoding, "
                   "file suffix _top_p<P>)")  # fmt: skip
    g.add_argument("--tag", default="", help="appended to the file name (e.g. _train2 for a separate training file)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    {"membership-controlled": membership_controlled, "membership-natural": membership_natural, "llm-text": llm_text}[
        args.cmd
    ](args)


if __name__ == "__main__":
    main()
