"""CCA attention (arXiv 2412.12465) on SmolLM2-135M: perplexity and prefill speed vs full attention (sdpa).

Three arms on the same weights and the same held-out texts: full causal ``sdpa`` (the baseline), CCA zero-shot
(``attn_implementation="hf_tokens_cca"`` on the pretrained weights) and CCA adapted (the paper's plug-and-play
continued training: every weight but the tied embeddings trained with CCA attention for ``--steps`` steps of
``--train-tokens`` tokens; the CPU budget, stated in the output). With ``--sdpa-finetune`` the full-attention model
is fine-tuned the same way (same data, steps, seed): the adapted CCA against a baseline that saw the same text.

Training text: ``--train-corpora`` (Debian licences, CPython source, dpkg changelog by default); evaluation text:
``--eval-corpus`` (the Jargon File), a corpus the training never sees. Rows per length L: perplexity of each arm
(mean token NLL over ``--texts`` texts of L tokens, ratio to sdpa's), and prefill tokens/s (the transformer's forward
over L tokens, no cache, the LM head excluded; median over the texts, each arm timed on text i in turn).

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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="save the adapted model + card here (save_for_hub; .cache/)")
    parser.add_argument("--adapted", default=None, help="load the adapted model from this --save folder (no training)")
    args = parser.parse_args(argv)
    if args.adapted and args.sdpa_finetune:
        parser.error("--sdpa-finetune trains on the data of a training run; it cannot be combined with --adapted")
    setup_torch(args)
    if args.quick:
        args.lengths, args.texts, args.steps, args.train_tokens = [512, 1024], 2, 3, 256
        args.local_window, args.group_size = 128, 8
    from hf_tokens.assets import load_model

    torch.manual_seed(args.seed)
    base, tokenizer = load_model("smollm2-135m")
    base.to(args.device)
    cca = CCAConfig(group_size=args.group_size, local_window=args.local_window, impl="chunked")
    key = register_cca_attention()
    cca.apply(base.config)

    bench = Benchmark("attention_cca", "SmolLM2-135M-Instruct", args.device, args.quick)
    arms: dict[str, tuple[Any, str]] = {"sdpa": (base, "sdpa"), "cca-zero-shot": (base, key)}
    if args.adapted:
        from transformers import AutoModelForCausalLM

        adapted = AutoModelForCausalLM.from_pretrained(args.adapted, attn_implementation=key).to(args.device).eval()
        cca.apply(adapted.config)  # evaluate at this run's g and s, not the ones saved with the adapted model
        card = (Path(args.adapted) / "README.md").read_text() if (Path(args.adapted) / "README.md").is_file() else ""
        trained_line = next((ln for ln in card.splitlines() if ln.startswith("`benchmarks/attention_cca.py`")), "")
        budget = f"loaded from {args.adapted}, trained by {trained_line or 'this script (see its card)'}"
        spent = re.search(r"(\d+) steps x (\d+) tokens", trained_line)
        adapt_steps, adapt_tokens = (int(spent.group(1)), int(spent.group(2))) if spent else (None, None)
    else:
        per = -(-args.steps // len(args.train_corpora))
        batches = [t for c in args.train_corpora for t in token_texts(tokenizer, c, per, args.train_tokens, args.seed)]
        batches = [batches[i] for i in torch.randperm(len(batches), generator=torch.Generator().manual_seed(0))]
        batches = [b.to(args.device) for b in batches[: args.steps]]
        adapted = copy.deepcopy(base)
        adapted.set_attn_implementation(key)
        trained = train(adapted, batches, args.lr, args.seconds)
        adapt_steps, adapt_tokens = trained["steps"], args.train_tokens
        budget = (
            f"{trained['steps']} steps x {args.train_tokens} tokens (batch 1, AdamW lr {args.lr}, every weight but "
            f"the tied embeddings) in "
            f"{trained['seconds']:.0f} s at {args.threads} thread(s) on {args.device} (budget {args.steps} steps / "
            f"{args.seconds:.0f} s); train loss {trained['first_loss']:.3f} -> {trained['final_loss']:.3f}; "
            f"train text: {', '.join(args.train_corpora)}; eval text: {args.eval_corpus}"
        )
        if args.save:
            from hf_tokens.hub import save_for_hub

            save_for_hub(adapted, args.save, method_id="cca-attention", tokenizer=tokenizer, config=cca,
                         overwrite=True, training=f"`benchmarks/attention_cca.py`: {budget}.")  # fmt: skip
            print(f"saved the adapted model to {args.save}", flush=True)
    bench.note(f"CCA g={args.group_size}, s={args.local_window} (chunked sdpa path); adapted: {budget}")
    arms["cca-adapted"] = (adapted, key)
    if args.sdpa_finetune:
        tuned = copy.deepcopy(base)
        tuned.set_attn_implementation("sdpa")
        done = train(tuned, batches, args.lr, args.seconds)
        bench.note(f"sdpa-finetuned: same data, {done['steps']} steps, loss {done['first_loss']:.3f} -> "
                   f"{done['final_loss']:.3f}")  # fmt: skip
        arms["sdpa-finetuned"] = (tuned, "sdpa")

    bench.note("prefill tokens/s: the transformer's forward over L tokens (no cache, LM head excluded), median over "
               "the texts; each arm timed on text i in turn; ppl: exp(mean token NLL over the texts)")  # fmt: skip
    for length in args.lengths:
        texts = token_texts(tokenizer, args.eval_corpus, args.texts, length, args.seed + 1)
        nll: dict[str, list[float]] = {a: [] for a in arms}
        secs: dict[str, list[float]] = {a: [] for a in arms}
        for model, impl in arms.values():  # warm-up at this length (one short forward per arm)
            model.set_attn_implementation(impl)
            nll_and_seconds(model, texts[0][: min(length, 256)].to(args.device))
        for ids in texts:
            for arm, (model, impl) in arms.items():
                model.set_attn_implementation(impl)
                value, seconds = nll_and_seconds(model, ids.to(args.device))
                nll[arm].append(value)
                secs[arm].append(seconds)
        extra = {"length": length, "texts": args.texts, "group_size": args.group_size,
                 "local_window": args.local_window, "adapt_steps": adapt_steps,
                 "adapt_tokens": adapt_tokens}  # fmt: skip
        ppl = {a: math.exp(statistics.mean(v)) for a, v in nll.items()}
        tps = {a: length / statistics.median(v) for a, v in secs.items()}
        for arm in arms:
            bench.add(arm, f"ppl@{length}", ppl[arm], baseline="sdpa", baseline_value=ppl["sdpa"], **extra)
            spread = (max(secs[arm]) - min(secs[arm])) / 2
            bench.add(arm, f"prefill_tokens_per_s@{length}", tps[arm], baseline="sdpa", baseline_value=tps["sdpa"],
                      spread=spread, **extra)  # fmt: skip
        keys = min(length, args.local_window) + max(0, length - args.local_window) // args.group_size
        bench.add("cca", f"keys_last_query@{length}", keys, baseline="sdpa", baseline_value=length, **extra)
        print(f"L={length}: " + ", ".join(f"{a} ppl {ppl[a]:.3f} {tps[a]:.0f} tok/s" for a in arms), flush=True)
        if args.json and length != args.lengths[-1]:
            bench.finish(args.json)  # the lengths done so far, in case a long run is stopped
    return bench.finish(args.json)


if __name__ == "__main__":
    main()
