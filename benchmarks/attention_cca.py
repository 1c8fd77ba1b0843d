"""CCA attention (arXiv 2412.12465) on SmolLM2-135M: perplexity and prefill speed vs full attention (sdpa).

Three arms on the same weights and the same held-out texts: full causal ``sdpa`` (the baseline), CCA zero-shot
(``attn_implementation="hf_tokens_cca"`` on the pretrained weights) and CCA adapted (the paper's plug-and-play
continued training: every weight but the tied embeddings trained with CCA attention for ``--steps`` steps of
``--train-tokens`` tokens; the CPU budget, stated in the output). With ``--sdpa-finetune`` the full-attention model
is fine-tuned the same way (same data, steps, seed): the adapted CCA against a baseline that saw the same text.
``--init-from`` continues the training of a model an earlier ``--save`` wrote (a second cycle of the same schedule;
``--train-seed`` draws other training chunks, the evaluation texts stay those of ``--seed``); its rows count the steps
of both runs. ``--train-attn sdpa`` trains (and ``--save``s) the full-attention control instead of the CCA model, in
the same one or two runs; ``--finetuned-sdpa DIR`` then loads that control next to ``--adapted`` as the arm
``sdpa-finetuned``, and the adapted CCA arm gets rows against it too (``baseline: sdpa-finetuned``): CCA against an
sdpa model that saw the same text for as many steps.

Training text: ``--train-corpora`` (Debian licences, CPython source, dpkg changelog by default); evaluation text:
``--eval-corpus`` (the Jargon File), a corpus the training never sees. Rows per length L: perplexity of each arm
(mean token NLL over ``--texts`` texts of L tokens, ratio to sdpa's), and prefill tokens/s (the transformer's forward
over L tokens, no cache, the LM head excluded; median over the texts, each arm timed on text i in turn), and
decoding tokens/s at context L (a cached prefill of the first L - n tokens, then the text's last
n = ``--decode-tokens`` tokens fed one step at a time, teacher-forced, through the same ``DynamicCache``; a whole
step, LM head included; median step over the steps of all the texts).

    PYTHONPATH=. python benchmarks/attention_cca.py --json bench_results/attention_cca.json
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hf_tokens.attention.cca import CCAConfig, register_cca_attention
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch


def token_texts(tokenizer: Any, corpus: str, n: int, length: int, seed: int) -> list[torch.Tensor]:
    """``n`` slices of ``length`` tokens from ``corpus`` (distinct random chunks)."""
    from hf_tokens.assets.text import text_chunks

    out = []
    for i, chunk in enumerate(text_chunks(corpus, n, 6 * length, seed=seed)):
        ids = tokenizer(chunk, add_special_tokens=False)["input_ids"]
        if len(ids) < length:
            raise SystemExit(f"{corpus} chunk {i} has {len(ids)} < {length} tokens")
        out.append(torch.tensor(ids[:length]))
    return out


@torch.no_grad()
def nll_and_seconds(model: Any, ids: torch.Tensor, head_chunk: int = 1024) -> tuple[float, float]:
    """Mean next-token NLL of ``ids`` and the seconds of the transformer's forward (LM head in chunks, untimed)."""
    start = time.perf_counter()
    hidden = model.model(input_ids=ids[None], use_cache=False).last_hidden_state[0]
    seconds = time.perf_counter() - start
    head = model.get_output_embeddings()
    total = 0.0
    for a in range(0, ids.numel() - 1, head_chunk):
        b = min(a + head_chunk, ids.numel() - 1)
        total += F.cross_entropy(head(hidden[a:b]).float(), ids[a + 1 : b + 1], reduction="sum").item()
    return total / (ids.numel() - 1), seconds


@torch.no_grad()
def decode_step_seconds(model: Any, ids: torch.Tensor, steps: int) -> list[float]:
    """Seconds of each cached decoding step over the last ``steps`` tokens of ``ids`` (teacher-forced: a cached
    prefill of the rest, then one token a step through the same cache; the whole forward, LM head included)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    model(input_ids=ids[None, :-steps], past_key_values=cache, use_cache=True, logits_to_keep=1)
    seconds = []
    for i in range(ids.numel() - steps, ids.numel()):
        start = time.perf_counter()
        model(input_ids=ids[None, i : i + 1], past_key_values=cache, use_cache=True)
        seconds.append(time.perf_counter() - start)
    return seconds


def train(model: Any, batches: list[torch.Tensor], lr: float, seconds: float) -> dict[str, Any]:
    """Fine-tune every weight but the (tied) embeddings (AdamW, linear decay, gradient checkpointing, to fit in a
    few GB) on ``batches`` of token ids; stops early at ``seconds``."""
    model.get_input_embeddings().weight.requires_grad_(False)
    checkpointing = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    checkpointing()
    model.config.use_cache = False
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, foreach=False)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - i / max(1, len(batches)))
    start, losses = time.perf_counter(), []
    for ids in batches:
        loss = model(input_ids=ids[None], labels=ids[None]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if time.perf_counter() - start > seconds:
            break
    (getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable)()
    model.eval()
    del opt
    tail = losses[-max(1, len(losses) // 5) :]
    return {"steps": len(losses), "seconds": time.perf_counter() - start, "first_loss": losses[0],
            "final_loss": statistics.mean(tail)}  # fmt: skip


def load_adapted(folder: str, key: str, cca: CCAConfig, device: str) -> tuple[Any, str, int | None, int | None]:
    """The model an earlier ``--save`` wrote, set to this run's CCA config, with the training its card states:
    (model, description, steps, tokens per step)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=key).to(device).eval()
    cca.apply(model.config)  # this run's g and s, not the ones saved with the model
    card = (Path(folder) / "README.md").read_text() if (Path(folder) / "README.md").is_file() else ""
    lines = [ln.rstrip(".") for ln in card.splitlines() if ln.startswith("`benchmarks/attention_cca.py`")]
    trained_line = lines[0] if lines else ""
    description = f"{folder}, trained by {trained_line or 'this script (see its card)'}"
    steps = [int(n) for n in re.findall(r"(\d+) steps x \d+ tokens \(batch", trained_line)]
    tokens = re.search(r"steps x (\d+) tokens", trained_line)
    return model, description, sum(steps) if steps else None, int(tokens.group(1)) if tokens else None


def main(argv: list[str] | None = None) -> dict:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--lengths", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--texts", type=int, default=3, help="held-out texts per length (timing: median over them)")
    parser.add_argument("--group-size", type=int, default=16, help="g: tokens pooled into one core token")
    parser.add_argument("--local-window", type=int, default=512, help="s: recent tokens each query attends to")
    parser.add_argument("--steps", type=int, default=60, help="continued-training steps (the CPU budget)")
    parser.add_argument("--seconds", type=float, default=1800.0, help="training wall-clock budget per model")
    parser.add_argument("--train-tokens", type=int, default=1024, help="tokens per training step (batch 1)")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--train-corpora", nargs="+", default=["licenses", "python-stdlib", "dpkg-changelog"])
    parser.add_argument("--eval-corpus", default="jargon")
    parser.add_argument("--sdpa-finetune", action="store_true", help="also fine-tune the sdpa model the same way")
    parser.add_argument("--decode-tokens", type=int, default=32, help="cached decoding steps timed per text (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="save the adapted model + card here (save_for_hub; .cache/)")
    parser.add_argument("--adapted", default=None, help="load the adapted model from this --save folder (no training)")
    parser.add_argument("--init-from", default=None, help="continue training the model of this --save folder")
    parser.add_argument("--train-seed", type=int, default=None, help="seed of the training chunks (default: --seed)")
    parser.add_argument(
        "--train-attn",
        choices=["cca", "sdpa"],
        default="cca",
        help="attention of the trained model: cca (the adapted arm) or sdpa (the fine-tuned control)",
    )
    parser.add_argument(
        "--finetuned-sdpa",
        default=None,
        help="load a --train-attn sdpa --save folder as the arm sdpa-finetuned (with --adapted)",
    )
    args = parser.parse_args(argv)
    if args.train_attn == "sdpa" and (args.adapted or args.sdpa_finetune):
        parser.error("--train-attn sdpa trains the control; it cannot be combined with --adapted or --sdpa-finetune")
    if args.finetuned_sdpa and not args.adapted:
        parser.error("--finetuned-sdpa is an evaluation arm: use it with --adapted (no training in the same run)")
    if args.adapted and (args.sdpa_finetune or args.init_from):
        parser.error("--adapted loads a trained model; it cannot be combined with --sdpa-finetune or --init-from")
    if args.init_from and args.sdpa_finetune:
        parser.error("--sdpa-finetune trains from the base weights; it cannot be combined with --init-from")
    for flag in ("adapted", "init_from", "finetuned_sdpa"):
        folder = getattr(args, flag)
        if folder and not (Path(folder) / "config.json").is_file():
            parser.error(f"--{flag.replace('_', '-')} {folder!r} is not a saved model folder (no config.json)")
    seed = args.seed if args.train_seed is None else args.train_seed
    if args.decode_tokens < 0 or args.decode_tokens >= min(args.lengths):
        parser.error(f"--decode-tokens must be in [0, {min(args.lengths)}) (shorter than every --lengths value)")
    setup_torch(args)
    if args.quick:
        args.lengths, args.texts, args.steps, args.train_tokens = [512, 1024], 2, 3, 256
        args.local_window, args.group_size, args.decode_tokens = 128, 8, min(args.decode_tokens, 8)
    from hf_tokens.assets import load_model

    torch.manual_seed(args.seed)
    base, tokenizer = load_model("smollm2-135m")
    base.to(args.device)
    cca = CCAConfig(group_size=args.group_size, local_window=args.local_window, impl="chunked")
    key = register_cca_attention()
    cca.apply(base.config)

    bench = Benchmark("attention_cca", "SmolLM2-135M-Instruct", args.device, args.quick)
    arms: dict[str, tuple[Any, str]] = {"sdpa": (base, "sdpa"), "cca-zero-shot": (base, key)}
    trained_arm, trained_impl = ("cca-adapted", key) if args.train_attn == "cca" else ("sdpa-finetuned", "sdpa")
    if args.adapted:
        adapted, loaded, adapt_steps, adapt_tokens = load_adapted(args.adapted, key, cca, args.device)
        budget = f"loaded from {loaded}"
    else:
        per = -(-args.steps // len(args.train_corpora))
        batches = [t for c in args.train_corpora for t in token_texts(tokenizer, c, per, args.train_tokens, seed)]
        batches = [batches[i] for i in torch.randperm(len(batches), generator=torch.Generator().manual_seed(0))]
        batches = [b.to(args.device) for b in batches[: args.steps]]
        if args.init_from:
            adapted, before, prior_steps, _ = load_adapted(args.init_from, trained_impl, cca, args.device)
        else:
            adapted, before, prior_steps = copy.deepcopy(base), "", 0
            adapted.set_attn_implementation(trained_impl)
        trained = train(adapted, batches, args.lr, args.seconds)
        adapt_steps, adapt_tokens = (prior_steps or 0) + trained["steps"], args.train_tokens
        budget = (
            f"{'CCA' if args.train_attn == 'cca' else 'full attention (sdpa)'}: "
            f"{trained['steps']} steps x {args.train_tokens} tokens (batch 1, AdamW lr {args.lr}, every weight but "
            f"the tied embeddings) in "
            f"{trained['seconds']:.0f} s at {args.threads} thread(s) on {args.device} (budget {args.steps} steps / "
            f"{args.seconds:.0f} s); train loss {trained['first_loss']:.3f} -> {trained['final_loss']:.3f}; "
            f"train text: {', '.join(args.train_corpora)} (chunk seed {seed}); eval text: {args.eval_corpus}"
        )
        if args.init_from:
            budget = f"{budget}; continued from {before}"
        if args.save:
            from hf_tokens.hub import save_for_hub

            control = {} if args.train_attn == "cca" else {
                "name": "SmolLM2-135M fine-tuned with full attention (the control arm of the CCA benchmark)",
                "description": "Not a CCA model: full causal attention (sdpa), fine-tuned on the text the CCA "
                               "model was adapted on, for the same steps, so that CCA is compared with a model "
                               "that saw the same text. Load it as it is (sdpa); the CCA usage and results below are "
                               "those of the method it is the baseline for."}  # fmt: skip
            save_for_hub(adapted, args.save, method_id="cca-attention", tokenizer=tokenizer,
                         config=cca if args.train_attn == "cca" else None, overwrite=True,
                         training=f"`benchmarks/attention_cca.py`: {budget}.", **control)  # fmt: skip
            print(f"saved the {trained_arm} model to {args.save}", flush=True)
    bench.note(f"CCA g={args.group_size}, s={args.local_window} (chunked sdpa path); {trained_arm}: {budget}")
    arms[trained_arm] = (adapted, trained_impl)
    if args.finetuned_sdpa:
        control_model, loaded, control_steps, _ = load_adapted(args.finetuned_sdpa, "sdpa", cca, args.device)
        bench.note(f"sdpa-finetuned: loaded from {loaded}")
        arms["sdpa-finetuned"] = (control_model, "sdpa")
    if args.sdpa_finetune:
        tuned = copy.deepcopy(base)
        tuned.set_attn_implementation("sdpa")
        done = train(tuned, batches, args.lr, args.seconds)
        bench.note(f"sdpa-finetuned: same data, {done['steps']} steps, loss {done['first_loss']:.3f} -> "
                   f"{done['final_loss']:.3f}")  # fmt: skip
        arms["sdpa-finetuned"] = (tuned, "sdpa")
        control_steps = done["steps"]

    bench.note("prefill tokens/s: the transformer's forward over L tokens (no cache, LM head excluded), median over "
               "the texts; each arm timed on text i in turn; ppl: exp(mean token NLL over the texts)")  # fmt: skip
    against_control = "sdpa-finetuned" in arms and "cca-adapted" in arms
    for length in args.lengths:
        texts = token_texts(tokenizer, args.eval_corpus, args.texts, length, args.seed + 1)
        nll: dict[str, list[float]] = {a: [] for a in arms}
        secs: dict[str, list[float]] = {a: [] for a in arms}
        for model, impl in arms.values():  # warm-up: one untimed forward per arm at this length (buffers, pages)
            model.set_attn_implementation(impl)
            nll_and_seconds(model, texts[0].to(args.device))
        steps: dict[str, list[float]] = {a: [] for a in arms}
        for ids in texts:
            for arm, (model, impl) in arms.items():
                model.set_attn_implementation(impl)
                value, seconds = nll_and_seconds(model, ids.to(args.device))
                nll[arm].append(value)
                secs[arm].append(seconds)
                if args.decode_tokens:
                    steps[arm] += decode_step_seconds(model, ids.to(args.device), args.decode_tokens)
        extra = {"length": length, "texts": args.texts, "group_size": args.group_size,
                 "local_window": args.local_window, "adapt_steps": adapt_steps,
                 "adapt_tokens": adapt_tokens}  # fmt: skip
        if against_control:
            extra["finetuned_steps"] = control_steps  # the control's training steps (adapt_steps: the CCA model's)
        ppl = {a: math.exp(statistics.mean(v)) for a, v in nll.items()}
        tps = {a: length / statistics.median(v) for a, v in secs.items()}
        for arm in arms:
            bench.add(arm, f"ppl@{length}", ppl[arm], baseline="sdpa", baseline_value=ppl["sdpa"], **extra)
            spread = (max(secs[arm]) - min(secs[arm])) / 2
            bench.add(arm, f"prefill_tokens_per_s@{length}", tps[arm], baseline="sdpa", baseline_value=tps["sdpa"],
                      spread=spread, **extra)  # fmt: skip
            if args.decode_tokens:
                dps = {a: 1 / statistics.median(v) for a, v in steps.items()}
                bench.add(arm, f"decode_tokens_per_s@{length}", dps[arm], baseline="sdpa", baseline_value=dps["sdpa"],
                          decode_steps=len(steps[arm]), **extra)  # fmt: skip
        if against_control:  # CCA against the control that saw the same text
            vs = {"baseline": "sdpa-finetuned", **extra}
            bench.add("cca-adapted", f"ppl@{length}", ppl["cca-adapted"], baseline_value=ppl["sdpa-finetuned"], **vs)
            bench.add("cca-adapted", f"prefill_tokens_per_s@{length}", tps["cca-adapted"],
                      baseline_value=tps["sdpa-finetuned"], **vs)  # fmt: skip
        keys = min(length, args.local_window) + max(0, length - args.local_window) // args.group_size
        bench.add("cca", f"keys_last_query@{length}", keys, baseline="sdpa", baseline_value=length, **extra)
        print(f"L={length}: " + ", ".join(f"{a} ppl {ppl[a]:.3f} {tps[a]:.0f} tok/s" for a in arms), flush=True)
        if args.json and length != args.lengths[-1]:
            bench.finish(args.json)  # the lengths done so far, in case a long run is stopped
    return bench.finish(args.json)


if __name__ == "__main__":
    main()
