"""The ``hf-tokens`` command: list / info / card / run / assets / readme."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class CLIError(Exception):
    """An error shown to the user as one line, exit status 2."""


def _specs(args: argparse.Namespace) -> list[Any]:
    from hf_tokens.registry import EXTENSION_POINTS, STATUSES, all_specs

    if args.extension and args.extension not in EXTENSION_POINTS:
        raise CLIError(f"--extension must be one of {', '.join(EXTENSION_POINTS)}")
    if args.status and args.status not in STATUSES:
        raise CLIError(f"--status must be one of {', '.join(STATUSES)}")
    return all_specs(extension=args.extension, status=args.status, implemented=True if args.implemented else None)


def cmd_list(args: argparse.Namespace) -> None:
    specs = _specs(args)
    if args.json:
        print(json.dumps([s.to_dict() for s in specs], indent=1))
        return
    rows = [(s.id, s.extension, s.status, s.arxiv or "-", s.summary) for s in specs]
    widths = [max(len(r[i]) for r in rows) for i in range(4)] if rows else [2, 9, 6, 5]
    header = ("id", "extension", "status", "arxiv")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  summary")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    print(f"\n{len(specs)} methods, {sum(s.implemented for s in specs)} implemented")


def cmd_info(args: argparse.Namespace) -> None:
    from hf_tokens.registry import get

    spec = get(args.id)
    data = spec.to_dict()  # the headline rendered from its committed result rows (or headline_error)
    if args.json:
        print(json.dumps(data, indent=1))
        return
    for key in (
        "id",
        "title",
        "paper_url",
        "extension",
        "area",
        "status",
        "summary",
        "entry",
        "config",
        "headline",
        "headline_error",
        "benchmark",
    ):
        if data.get(key):
            print(f"{key:10} {data[key]}")
    if spec.implemented and spec.entry:
        obj = spec.load("entry")
        doc = (getattr(obj, "__doc__", None) or "").strip()
        if doc:
            print("\n" + doc)
    if spec.usage:
        print("\nusage:\n" + spec.usage)


def cmd_card(args: argparse.Namespace) -> None:
    from hf_tokens.hub import render_card

    card = render_card(args.id, args.kind, base_model=args.base_model)
    if args.out:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise CLIError(f"--out {out} exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        card.save(out / "README.md")
        print(f"wrote {out / 'README.md'}")
    else:
        print(str(card))


def cmd_run(args: argparse.Namespace) -> None:
    import torch

    from hf_tokens.assets import load_model
    from hf_tokens.demo import run

    if args.threads < 1:
        raise CLIError("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    if args.method:
        from hf_tokens.registry import get

        spec = get(args.method)  # unknown id fails before the model loads
        if not spec.implemented:
            raise CLIError(f"method {spec.id!r} is planned, not implemented yet (`hf-tokens list --implemented`)")
    model, tokenizer = load_model(args.model)
    result, plain = run(
        args.method, model, tokenizer, args.prompt, max_new_tokens=args.max_new_tokens, chat=not args.no_chat
    )
    runs = [plain, result] if plain is not None else [result]
    print(f"model: {args.model}  threads: {args.threads}  prompt: {args.prompt!r}")
    for r in runs:
        print(f"\n[{r.method}] {r.new_tokens} new tokens in {r.seconds:.2f} s ({r.tokens_per_second:.1f} tokens/s)")
        print(r.text)
        for key, value in r.effects.items():
            shown = f"{value:.4g}" if isinstance(value, float) else value
            print(f"  {key}: {shown}")
        for note in r.notes:
            print(f"  note: {note}")


def cmd_assets(args: argparse.Namespace) -> None:
    from hf_tokens.assets import asset_status, build_all, cache_root

    if args.verify and args.action != "status":
        raise CLIError("--verify goes with `assets status` (`assets build` always hashes in full)")
    status = build_all() if args.action == "build" else asset_status(verify=args.verify)
    print(f"cache: {cache_root()}")
    for name, state in status.items():
        print(f"  {name:20} {state}")
    corrupt = [name for name, state in status.items() if state.startswith("CORRUPT")]
    if corrupt:
        raise CLIError(f"corrupt cache folders: {', '.join(corrupt)}")
    if args.action == "build" and status.get("smollm2-135m") != "ok":
        raise CLIError(f"the bundled model is missing: {status['smollm2-135m']}")


def cmd_readme(args: argparse.Namespace) -> None:
    from hf_tokens.readme import update_readme

    path = Path(args.path)
    changed = update_readme(path, check=args.check, allow_missing=args.allow_missing)
    if args.check and changed:
        raise CLIError(f"{path}'s method table is out of date; run `hf-tokens readme`")
    print(f"{path}: {'updated' if changed else 'up to date'}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-tokens", description="Papers on tokens in LLMs as Hugging Face components"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="table of the 52 methods, their extension point and status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--extension", help="only this extension point")
    p.add_argument("--status", help="only this status (planned, experimental, stable)")
    p.add_argument("--implemented", action="store_true", help="only implemented methods")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="everything known about one method")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("card", help="render the model card of a method (stdout or --out FOLDER/README.md)")
    p.add_argument("id")
    p.add_argument("--kind", choices=("model", "custom_generate", "kernel", "tokenizer"), default=None)
    p.add_argument("--base-model", default=None)
    p.add_argument("--out", default=None, help="folder to write README.md into")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser("run", help="run a method (or plain generation) on the bundled model and show its effect")
    p.add_argument("--method", default=None, help="method id (default: plain greedy generation only)")
    p.add_argument("--prompt", default="What is the capital of France?")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    p.add_argument("--no-chat", action="store_true", help="use the prompt as raw text, not as a chat message")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("assets", help="status of the offline real assets and their built cache, or build it")
    p.add_argument("action", choices=("status", "build"))
    p.add_argument("--verify", action="store_true", help="status: hash every cached file in full")
    p.set_defaults(func=cmd_assets)

    p = sub.add_parser("readme", help="regenerate the README's method table from the registry")
    p.add_argument("--path", default="README.md")
    p.add_argument("--check", action="store_true", help="fail if the table is out of date")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="write 'awaiting <file>' for a headline whose result file or row is not committed yet",
    )
    p.set_defaults(func=cmd_readme)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from hf_tokens.assets import AssetNotInstalledError
    from hf_tokens.registry import UnknownMethodError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BrokenPipeError:  # `hf-tokens list | head`
        sys.stderr.close()
        return 0
    except (CLIError, UnknownMethodError, AssetNotInstalledError, ValueError, LookupError) as exc:
        print(f"hf-tokens {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
