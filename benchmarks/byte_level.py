"""Prompt-boundary (FIM) test, throughput and ensembles for exact byte-level probabilities (arXiv 2410.09303).

Prompts are CPython standard-library code cut *inside a token* at a random character of a line; the task is to
complete the rest of that line (exact match). Methods, all greedy:

* ``plain``: token greedy after the cut prompt's own tokens;
* ``hf_token_healing``: transformers' ``token_healing=True`` (stock);
* ``fixed_token_healing``: token healing with the stock version's defects fixed (:func:`heal_tokens_fixed`);
* ``ours_cover``: the prompt's exact cover encodings, MAP cover, then token greedy (``prompt_boundary="cover"``);
* ``ours``: the paper's FIM procedure (``prompt_boundary="bytes_then_tokens"``): byte greedy from the exact
  next-byte distribution up to the first whitespace, then a cover of that text and token greedy.

Every method gets the same per-prompt budget of new tokens (the true rest of the line's token count + 4), which
only decides when decoding stops. Exact match is reported with a Wilson 95% interval, ours against each baseline
as a paired difference with a bootstrap 95% interval and an exact McNemar test; per-prompt outputs go to a JSON
Lines file beside the results. Also: log-likelihood of the true continuation (nats per byte), throughput (bytes/s)
of token greedy vs byte-level greedy (exact and trust mode), and bits per byte of a cross-vocabulary ensemble.

    python benchmarks/byte_level.py --quick --json bench_results/byte_level_quick.json
    python benchmarks/byte_level.py --json bench_results/byte_level.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from pathlib import Path

import torch

from hf_tokens.benchmarking import Benchmark, add_common_args, paired_bootstrap, setup_torch

METHODS = ("plain", "hf_token_healing", "fixed_token_healing", "ours_cover", "ours")
OURS = "ours"


def make_prompts(tokenizer, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (prompt, rest of the line) pairs: code chunks cut at a random character strictly inside a token."""
    from hf_tokens.assets.text import text_chunks

    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for chunk in text_chunks("python-stdlib", n * 4, 1200, seed=seed):
        lines = chunk.split("\n")
        pos = 0
        candidates = []
        for line in lines[:-1]:
            if pos > 300 and len(line.strip()) >= 12 and not line.strip().startswith("#"):
                candidates.append((pos, line))
            pos += len(line) + 1
        if not candidates:
            continue
        start, line = rng.choice(candidates)
        indent = len(line) - len(line.lstrip())
        enc = tokenizer(line, add_special_tokens=False, return_offsets_mapping=True)
        inner = [c for s, e in enc["offset_mapping"] for c in range(s + 1, e) if c > indent]  # cuts inside a token
        if not inner:
            continue
        cut = rng.choice(inner)
        out.append((chunk[: start + cut], line[cut:]))
        if len(out) == n:
            break
    return out


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


# ------------------------------------------------------------------------------------------------------ statistics
def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_p(wins: int, losses: int) -> float:
    """Exact two-sided McNemar p-value: the discordant pairs under Binomial(wins + losses, 1/2)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


# ------------------------------------------------------------------------------------------------------- the FIM task
class FimRunner:
    """Runs every method on one prompt and returns its continuation text and the time it took."""

    def __init__(self, model, tok, tok_hf, exact_lm) -> None:
        self.model, self.tok, self.tok_hf, self.lm = model, tok, tok_hf, exact_lm
        self.errors: dict[str, list[str]] = {m: [] for m in METHODS}

    def run(self, method: str, prompt: str, budget: int) -> str:
        ids = self.tok(prompt, return_tensors="pt")
        try:
            return getattr(self, f"_{method}")(prompt, ids, budget)
        except (KeyError, ValueError, IndexError, TypeError) as exc:  # counted as a miss and reported
            self.errors[method].append(f"{type(exc).__name__}: {str(exc)[:100]}")
            return ""

    def _new_text(self, ids, out) -> str:
        return self.lm.vocab.decode(out[0, ids.input_ids.shape[1] :].tolist()).decode("utf-8", "replace")

    def _plain(self, prompt, ids, budget) -> str:
        return self._new_text(ids, self.model.generate(**ids, max_new_tokens=budget, do_sample=False))

    def _hf_token_healing(self, prompt, ids, budget) -> str:
        out = self.model.generate(
            **ids, max_new_tokens=budget, do_sample=False, token_healing=True, tokenizer=self.tok_hf
        )
        healed = self.tok.decode(out[0], skip_special_tokens=True)
        # stock healing re-tokenizes the prompt stripped of surrounding whitespace: its continuation is what follows
        # the original prompt when the healed text extends it (else the prompt was changed: a miss)
        core = prompt.strip()
        rest = healed[len(core) :] if healed.startswith(core) else None
        trailing = prompt[len(prompt.rstrip()) :]
        return rest[len(trailing) :] if rest is not None and rest.startswith(trailing) else ""

    def _fixed_token_healing(self, prompt, ids, budget) -> str:
        from hf_tokens.generation.byte_level.healing import heal_tokens_fixed

        row = ids.input_ids[0].tolist()
        new = heal_tokens_fixed(self.model, self.lm.vocab, row, budget)
        full = self.lm.vocab.decode(row[:-1]) + self.lm.vocab.decode(new)
        return full[len(prompt.encode()) :].decode("utf-8", "replace")

    def _byte_level(self, ids, budget, mode: str) -> str:
        from hf_tokens.generation.byte_level import generate

        out = self.model.generate(
            **ids, max_new_tokens=budget, custom_generate=generate, byte_lm=self.lm, prompt_boundary=mode
        )
        return self._new_text(ids, out)

    def _ours_cover(self, prompt, ids, budget) -> str:
        return self._byte_level(ids, budget, "cover")

    def _ours(self, prompt, ids, budget) -> str:
        return self._byte_level(ids, budget, "bytes_then_tokens")


def nll_pair(model, tok, trust_lm, prompt: str, target: str) -> tuple[float, float]:
    """Nats per byte of the first 12 bytes of the true continuation: token level after the cut prompt's tokens
    (plain), and byte level (trust mode, to keep the benchmark short)."""
    from hf_tokens.analysis.token_stats import token_stats

    tgt = target[:12]
    ids = tok(prompt).input_ids
    cont = tok(tgt, add_special_tokens=False).input_ids
    stats = token_stats(model, tok, input_ids=torch.tensor([ids + cont]), continuation_start=len(ids), entropy=False)
    n = len(tgt.encode())
    return float(stats.nll()[0]) / n, -trust_lm.log_prob(tgt, context=prompt) / n


def fim_rows(bench: Benchmark, model, tok, tok_hf, prompts, per_prompt_path: Path | None) -> None:
    from hf_tokens.generation.byte_level import ByteLevelLM

    exact = ByteLevelLM(model, tok)
    trust = ByteLevelLM(model, tok, validity_tail=1.0)
    runner = FimRunner(model, tok, tok_hf, exact)
    hits: dict[str, list[int]] = {m: [] for m in METHODS}
    seconds: dict[str, float] = dict.fromkeys(METHODS, 0.0)
    nll_plain, nll_ours, records = [], [], []
    for i, (prompt, target) in enumerate(prompts):
        budget = len(tok(target, add_special_tokens=False).input_ids) + 4
        outs = {}
        for m in METHODS:
            t = time.perf_counter()
            outs[m] = first_line(runner.run(m, prompt, budget))
            seconds[m] += time.perf_counter() - t
            hits[m].append(int(outs[m] == target))
        plain_nll, ours_nll = nll_pair(model, tok, trust, prompt, target)
        nll_plain.append(plain_nll)
        nll_ours.append(ours_nll)
        records.append({"i": i, "prompt_tail": prompt[-60:], "target": target, "outputs": outs})
        print(f"[{i + 1}/{len(prompts)}] {target!r} " + " ".join(f"{m}={o!r}" for m, o in outs.items()), flush=True)
    n = len(prompts)
    for m in METHODS:
        lo, hi = wilson(sum(hits[m]), n)
        bench.add(m, "exact_match_next_line", statistics.mean(hits[m]), n=n, ci95=[lo, hi])
    for base in ("plain", "hf_token_healing", "fixed_token_healing", "ours_cover"):
        wins = sum(a > b for a, b in zip(hits[OURS], hits[base]))
        losses = sum(a < b for a, b in zip(hits[OURS], hits[base]))
        lo, hi = paired_bootstrap(hits[OURS], hits[base])
        bench.add(
            OURS,
            f"exact_match_minus_{base}",
            statistics.mean(hits[OURS]) - statistics.mean(hits[base]),
            baseline=base,
            baseline_value=statistics.mean(hits[base]),
            n=n,
            wins=wins,
            losses=losses,
            ci95=[lo, hi],
            p_mcnemar=mcnemar_p(wins, losses),
        )
    bench.add(
        "ours_bytes_trust",
        "nll_true_continuation_nats_per_byte",
        statistics.mean(nll_ours),
        baseline="plain",
        baseline_value=statistics.mean(nll_plain),
        n=n,
    )
    for m in METHODS:
        bench.add(m, "seconds_per_prompt", seconds[m] / n, baseline="plain", baseline_value=seconds["plain"] / n)
    for m, errs in runner.errors.items():
        if errs:
            bench.note(f"{m} raised on {len(errs)} of {n} prompts (a raise counts as a miss); first: {errs[0]}")
    bench.note(
        f"{n} prompts cut strictly inside a token; per-prompt budget = tokens of the true rest of the line + 4; "
        "ci95 of exact match: Wilson; of differences: paired bootstrap; p_mcnemar: exact two-sided"
    )
    if per_prompt_path is not None:
        per_prompt_path.parent.mkdir(parents=True, exist_ok=True)
        per_prompt_path.write_text("".join(json.dumps(r) + "\n" for r in records))
        bench.note(f"per-prompt outputs: {per_prompt_path}")


# ------------------------------------------------------------------------------------------------------ throughput
def throughput_rows(bench: Benchmark, model, tok, prompts, quick: bool) -> None:
    """Bytes/s of token greedy and of byte-level greedy (exact and trust mode) from the same prompts."""
    from hf_tokens.generation.byte_level import ByteLevelLM, generate

    tp_prompts = prompts[: 2 if quick else 4]
    tok_bytes, tok_time = 0, 0.0
    for prompt, _ in tp_prompts:
        ids = tok(prompt, return_tensors="pt")
        t = time.perf_counter()
        o = model.generate(**ids, max_new_tokens=16, do_sample=False)
        tok_time += time.perf_counter() - t
        tok_bytes += len(tok.decode(o[0, ids.input_ids.shape[1] :]).encode())
    token_bps = tok_bytes / tok_time
    bench.add("token_greedy", "bytes_per_second", token_bps)
    settings = (
        ("byte_level_trust", {"validity_tail": 1.0}, 24),
        ("byte_level_tail_1e-3", {"validity_tail": 1e-3}, 16),  # opt-in approximation (ByteLevelConfig docs)
        ("byte_level_exact", {}, 8 if quick else 16),
    )
    for name, kwargs, nbytes in settings:
        lm = ByteLevelLM(model, tok, **kwargs)
        done, spent = 0, 0.0
        for prompt, _ in tp_prompts:
            ids = tok(prompt, return_tensors="pt")
            t = time.perf_counter()
            o = model.generate(**ids, max_new_tokens=16, max_new_bytes=nbytes, custom_generate=generate, byte_lm=lm)
            spent += time.perf_counter() - t
            done += len(lm.vocab.decode(o[0, ids.input_ids.shape[1] :].tolist()))
        bench.add(name, "bytes_per_second", done / spent, baseline="token_greedy", baseline_value=token_bps)
    bench.note(
        f"throughput: greedy from the first {len(tp_prompts)} FIM prompts, a fresh ByteLevelLM per mode (its "
        "start-up and the prompt's covers included); byte_level_trust = validity_tail=1 (the paper's fast_mode), "
        "byte_level_tail_1e-3 trusts the model for the least likely candidates of total mass <= 1e-3 (opt-in)"
    )


# -------------------------------------------------------------------------------------------------------- ensemble
def ensemble_rows(bench: Benchmark, model, tok, quick: bool) -> None:
    """Bits per byte of SmolLM2, Gemma-3-270m and their product / mixture ensembles on held-out English prose."""
    from hf_tokens.assets import AssetNotInstalledError
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.generation.byte_level import ByteLevelEnsemble, ByteLevelLM

    try:
        from hf_tokens.assets.gemma import load_gemma

        gemma, gtok = load_gemma()
    except AssetNotInstalledError as exc:
        bench.note(f"ensemble skipped: Gemma-3-270m is not installed ({str(exc)[:120]})")
        return
    # trust mode (the paper's fast_mode) for both members: the exact check over Gemma's 262k pieces is too slow here
    a = ByteLevelLM(model, tok, validity_tail=1.0)
    b = ByteLevelLM(gemma, gtok, validity_tail=1.0)
    # prose with whitespace collapsed: Gemma's rebuilt SentencePiece (no whitespace splitting) lost every cover on a
    # "\n\t\t-- " run in trust mode (see the notes); a text that fails is skipped and counted
    texts = [" ".join(t.split()) for t in text_chunks("licenses", 3 if quick else 8, 260 if quick else 400, seed=1)]
    members = {"smollm2": a, "gemma3_270m": b}
    ens = {"product": ByteLevelEnsemble([a, b], mode="product"), "mixture": ByteLevelEnsemble([a, b], mode="mixture")}
    bits: dict[str, float] = {k: 0.0 for k in (*members, *(f"ensemble_{k}" for k in ens))}
    nbytes, failed = 0, 0
    for text in texts:
        context, target = text[:60], text[60:160].encode("utf-8")
        part = dict.fromkeys(bits, 0.0)
        try:
            states = {k: m.start(context) for k, m in members.items()}
            for byte in target:
                dists = {k: members[k].distribution(st) for k, st in states.items()}
                for k in members:
                    part[k] -= float(torch.log2(dists[k][byte]))
                for k, e in ens.items():
                    part[f"ensemble_{k}"] -= float(torch.log2(e.combine(list(dists.values()))[byte]))
                states = {k: members[k].advance(st, byte) for k, st in states.items()}
        except ValueError:
            failed += 1
            continue
        for k, v in part.items():
            bits[k] += v
        nbytes += len(target)
    if not nbytes:
        bench.note(f"ensemble: every text failed ({failed})")
        return
    best = min(bits["smollm2"], bits["gemma3_270m"]) / nbytes
    for k, v in bits.items():
        bench.add(k, "bits_per_byte_licenses", v / nbytes, baseline="better_member", baseline_value=best)
    bench.note(
        f"ensemble: {nbytes} held-out bytes of /usr/share/common-licenses prose (whitespace collapsed) after a "
        f"60-character context, both members in trust mode; {failed} texts failed (a member gave probability 0)"
    )


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--prompts", type=int, default=None, help="FIM prompts (default 96, --quick 12)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt cuts")
    parser.add_argument(
        "--sections", default="fim,throughput,ensemble", help="comma-separated subset of fim,throughput,ensemble"
    )
    args = parser.parse_args()
    setup_torch(args)
    from transformers import AutoTokenizer

    from hf_tokens.assets import load_model, model_folder

    model, tok = load_model("smollm2-135m")
    # stock token healing replaces bos ids with pad and fails when the tokenizer has no bos (SmolLM2 has none):
    # give its copy of the tokenizer the document separator as bos; the healing algorithm itself is unchanged
    tok_hf = AutoTokenizer.from_pretrained(model_folder("smollm2-135m"))
    tok_hf.add_special_tokens({"bos_token": "<|endoftext|>"})
    prompts = make_prompts(tok, args.prompts or (12 if args.quick else 96), seed=args.seed)
    bench = Benchmark("byte_level", "SmolLM2-135M-Instruct (bundled GGUF, fp32)", quick=args.quick)
    per_prompt = args.json.with_name(args.json.stem + "_prompts.jsonl") if args.json else None
    sections = set(args.sections.split(","))
    if not sections <= {"fim", "throughput", "ensemble"}:
        raise SystemExit(f"--sections takes fim, throughput, ensemble; got {args.sections!r}")
    if "fim" in sections:
        fim_rows(bench, model, tok, tok_hf, prompts, per_prompt)
    if "throughput" in sections:
        throughput_rows(bench, model, tok, prompts, args.quick)
    if "ensemble" in sections:
        ensemble_rows(bench, model, tok, args.quick)
    bench.note("the machine's 2 cores were shared with other jobs; ratios are same-process")
    bench.finish(args.json)


if __name__ == "__main__":
    main()
