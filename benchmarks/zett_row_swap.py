"""Where ZeTT's zero-shot transfer loses to TokenAdapt: swap embedding rows between the two transplanted models.

SmolLM2 ties its input and output embeddings, so a transplanted row is both how a token is read and how likely it is
to be predicted. For each target tokenizer this builds the ZeTT and the TokenAdapt transplant (the same calls as
``benchmarks/tokenizer_transfer.py``, full evaluation texts) and scores four embedding matrices on the held-out text:
all ZeTT rows, all TokenAdapt rows, ZeTT rows only for the tokens that occur in the text (TokenAdapt elsewhere), and
ZeTT rows only for the tokens that do not occur in it. The last two separate the quality of the rows the text reads
from the probability mass that rows of absent tokens take from the softmax. Also reported: the mean L2 norm of the
rows the two methods predict (large-norm rows of absent tokens take more mass), and the mean softmax probability the
predicted rows take at each position of the text, split into tokens whose text is printable ASCII and the rest
(other scripts, typographic punctuation and symbols; the held-out text is English and mostly ASCII).

    python benchmarks/zett_row_swap.py --threads 1 --targets qwen3,mistral --zett-hypernetwork .cache/zett-smollm2 \
        --json bench_results/zett_row_swap.json
    python benchmarks/zett_row_swap.py --threads 1 --targets qwen3,mistral \
        --zett-hypernetwork .cache/zett-smollm2-absent-pool --json bench_results/zett_row_swap_absent.json

The first file is the 274-step hypernetwork, the second the one continued with absent-token distractors (see
``hf_tokens.tokenizers.zett.absent``): with it, ZeTT's rows for tokens absent from the text beat TokenAdapt's
(Qwen3 1.193 with TokenAdapt rows for in-text tokens, vs 1.214 all-TokenAdapt), its rows for in-text tokens are now
worse (1.228), and non-ASCII predicted rows still take 5.2%/4.4% of the softmax (TokenAdapt 1.5%/0.7%). Both files
predate the change that gives tokens SmolLM2 cannot spell mean initialisation's fallback rows under ZeTT: on Mistral
most of ZeTT's non-ASCII mass was on those 27 byte tokens' random rows.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch


def predicted_mass(model, tokenizer, texts, groups: dict[str, torch.Tensor], max_tokens: int = 512) -> dict:
    """Mean softmax probability, per position of ``texts`` (first ``max_tokens`` tokens each), on each id group."""
    total = dict.fromkeys(groups, 0.0)
    positions = 0
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"][:, :max_tokens]
            probs = model(input_ids=ids).logits[0].float().softmax(-1)
            for name, mask in groups.items():
                total[name] += float(probs[:, mask[: probs.shape[-1]]].sum())
            positions += probs.shape[0]
    return {name: value / positions for name, value in total.items()}


def printable_ascii(tokenizer, size: int) -> torch.Tensor:
    """True for ids whose text is non-empty printable ASCII."""
    from hf_tokens.tokenizers.vocab import surface_forms

    surfaces = surface_forms(tokenizer).surfaces
    flags = [bool(s) and all(32 <= b < 127 or b in (9, 10) for b in s) for s in surfaces[:size]]
    return torch.tensor(flags + [False] * (size - len(flags)))


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--targets", default="qwen3,mistral", help="target tokenizers (hf_tokens.assets names)")
    parser.add_argument("--zett-hypernetwork", type=Path, default=Path(".cache/zett-smollm2"))
    args = parser.parse_args()
    setup_torch(args)
    from tokenizer_transfer import eval_texts

    from hf_tokens.assets import load_model, load_tokenizer
    from hf_tokens.tokenizers import nll_per_char, transplant
    from hf_tokens.tokenizers.zett.initializer import ZettInitializer

    model, tok = load_model("smollm2-135m")
    if not model.config.tie_word_embeddings:
        raise SystemExit("this analysis assumes tied input/output embeddings (SmolLM2-135M)")
    texts = eval_texts(args.quick)
    base = math.exp(nll_per_char(model, tok, texts))
    bench = Benchmark("zett_row_swap", "SmolLM2-135M-Instruct (dequantized Q4_1)", args.device, args.quick)
    bench.note(f"{len(texts)} held-out texts ({sum(map(len, texts))} chars) of benchmarks/tokenizer_transfer.py")
    bench.note(f"ZeTT hypernetwork: {args.zett_hypernetwork}")
    for name in args.targets.split(","):
        new_tok = load_tokenizer(name)
        zett, eval_tok = transplant(model, tok, new_tok, ZettInitializer(args.zett_hypernetwork))
        adapt, _ = transplant(model, tok, new_tok, "tokenadapt")
        ez, ea = zett.get_input_embeddings().weight.detach(), adapt.get_input_embeddings().weight.detach().clone()
        in_text = torch.zeros(ez.shape[0], dtype=torch.bool)
        in_text[sorted({i for t in texts for i in eval_tok(t, add_special_tokens=False)["input_ids"]})] = True
        predicted = (ez - ea).norm(dim=1) > 0  # rows the two methods set differently (copied shared rows agree)
        arms = {"all-zett": torch.ones_like(in_text), "all-tokenadapt": torch.zeros_like(in_text),
                "zett-rows-in-text": in_text, "zett-rows-not-in-text": ~in_text}  # fmt: skip
        extra = {
            "target": name,
            "predicted_rows": int(predicted.sum()),
            "in_text_predicted": int((predicted & in_text).sum()),
        }
        with torch.no_grad():
            for arm, use_zett in arms.items():
                adapt.get_input_embeddings().weight.copy_(torch.where(use_zett[:, None], ez, ea))
                ratio = math.exp(nll_per_char(adapt, eval_tok, texts)) / base
                bench.add(f"{arm}->{name}", "ppl_per_char_ratio", ratio, **extra)
                print(f"{name:>8} {arm:<24} {ratio:.4f}", flush=True)
            adapt.get_input_embeddings().weight.copy_(ea)
        ascii_ids = printable_ascii(eval_tok, ez.shape[0])
        groups = {"ascii": predicted & ascii_ids, "non_ascii": predicted & ~ascii_ids}
        for label, rows, net in (("zett", ez, zett), ("tokenadapt", ea, adapt)):
            bench.add(f"{label}->{name}", "mean_row_norm", float(rows[predicted].norm(dim=1).mean()), **extra)
            for group, mass in predicted_mass(net, eval_tok, texts, groups).items():
                bench.add(f"{label}->{name}", f"predicted_mass_{group}", mass, **extra)
                print(f"{name:>8} {label:<10} mass on predicted {group} tokens {mass:.4f}", flush=True)
        bench.add(f"original->{name}", "mean_row_norm", float(model.get_input_embeddings().weight.norm(dim=1).mean()))
    bench.finish(args.json)


if __name__ == "__main__":
    main()
