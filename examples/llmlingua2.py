"""LLMLingua-2 prompt compression through the ``prompt-compression`` transformers pipeline: distil a teacher LLM's
extractive compressions into keep/drop word labels, train the bundled MiniLM as a 2-label token classifier, and
compress a document at 2x, 3x and 5x (the output is always a subsequence of the input's words).

    python examples/llmlingua2.py                                    # SmolLM2 teacher on 2 pydoc passages
    python examples/llmlingua2.py --classifier .cache/llmlingua2-minilm   # the benchmark's saved classifier
    python examples/llmlingua2.py --docs 4 --epochs 5 --out lingua-minilm # save the trained classifier with a card
"""

from __future__ import annotations

import argparse
import importlib
import pydoc

import torch


def pydoc_passage(module: str, words: int = 80) -> str:
    text = pydoc.render_doc(importlib.import_module(module), renderer=pydoc.plaintext)
    body = text.split("\nDESCRIPTION\n", 1)[-1].split("\nCLASSES\n")[0].split("\nFUNCTIONS\n")[0]
    return " ".join(body.split()[:words])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classifier", default=None, help="a trained 2-label classifier folder (skips training)")
    parser.add_argument("--docs", type=int, default=2, help="passages the teacher compresses for training")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default=None, help="save the trained classifier + tokenizer + card here")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import AutoModelForTokenClassification, pipeline

    import hf_tokens.pipelines.llmlingua2.pipeline  # noqa: F401  (registers the "prompt-compression" task)
    from hf_tokens.assets import load_encoder, load_model
    from hf_tokens.assets.loaders import minilm_folder
    from hf_tokens.pipelines.llmlingua2 import align_labels, distillation_prompt, split_words, train_classifier

    _, tokenizer = load_encoder("minilm-l6")
    if args.classifier:
        model = AutoModelForTokenClassification.from_pretrained(args.classifier)
    else:
        teacher, teacher_tok = load_model("smollm2-135m")
        examples = []
        for module in ["gzip", "heapq", "shutil", "json", "zlib", "csv"][: args.docs]:
            words = split_words(pydoc_passage(module, 60))
            prompt = teacher_tok.apply_chat_template(
                [{"role": "user", "content": distillation_prompt(" ".join(words))}],
                tokenize=False,
                add_generation_prompt=True,
            )
            enc = teacher_tok(prompt, return_tensors="pt", add_special_tokens=False)
            with torch.no_grad():
                out = teacher.generate(**enc, max_new_tokens=len(words) + 16, do_sample=False)
            reply = teacher_tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            labels = align_labels(words, reply)
            print(f"{module}: teacher kept {sum(labels)}/{len(words)} words")
            examples.append((words, labels))
        torch.manual_seed(0)
        model = AutoModelForTokenClassification.from_pretrained(str(minilm_folder()), num_labels=2)
        log = train_classifier(model, tokenizer, examples, epochs=args.epochs)
        print(f"classifier: {log['steps']} steps, loss {log['losses'][0]:.3f} -> {log['losses'][-1]:.3f}")
    compressor = pipeline("prompt-compression", model=model, tokenizer=tokenizer)
    text = pydoc_passage("sqlite3", 120)
    for name, rate in (("2x", 0.5), ("3x", 1 / 3), ("5x", 0.2)):
        out = compressor(text, rate=rate, force_tokens=["sqlite3"])
        print(f"{name}: {out['n_kept']}/{out['n_words']} words | {out['compressed_prompt'][:160]}")
    if args.out:
        from hf_tokens.hub import save_for_hub

        folder = save_for_hub(
            model, args.out, method_id="llmlingua2", tokenizer=tokenizer, auto_class="AutoModelForTokenClassification"
        )
        print(f"saved to {folder}")


if __name__ == "__main__":
    main()
