"""Run Python in a subprocess where ``import hf_tokens`` fails, to prove an exported artefact is self-contained.

hf_tokens is installed in the test environment (editable), so leaving the worktree off ``sys.path`` is not enough: a
``sitecustomize`` on ``PYTHONPATH`` puts a meta-path finder first that refuses ``hf_tokens`` and every submodule.
The child script checks the block itself before it runs anything else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_BLOCKER = '''
import sys


class _NoHfTokens:
    """Refuses hf_tokens: this process tests an artefact that must work where hf_tokens is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "hf_tokens" or name.startswith("hf_tokens."):
            message = f"No module named {name!r} (blocked: testing a self-contained export)"
            raise ModuleNotFoundError(message, name=name)
        return None


sys.meta_path.insert(0, _NoHfTokens())
'''

_PRELUDE = """
try:
    import hf_tokens  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("hf_tokens is importable in the isolated process: the blocker did not work")
import torch

torch.set_num_threads(1)
"""


def run_without_hf_tokens(script: str, workdir: Path, *, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``script`` (Python source) with ``hf_tokens`` unimportable; raise with its output when it fails.

    ``workdir`` holds the blocker, the script and transformers' dynamic-module cache (``HF_MODULES_CACHE``), so remote
    code is copied fresh for every test. The worktree is not on ``sys.path``.
    """
    workdir = Path(workdir)
    blocker = workdir / "blocker"
    blocker.mkdir(parents=True, exist_ok=True)
    (blocker / "sitecustomize.py").write_text(_BLOCKER)
    path = workdir / "isolated_script.py"
    path.write_text(_PRELUDE + textwrap.dedent(script))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(
        PYTHONPATH=str(blocker),
        PYTHONNOUSERSITE="1",
        HF_HUB_OFFLINE="1",
        HF_MODULES_CACHE=str(workdir / "hf_modules"),
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        TRANSFORMERS_VERBOSITY="error",
    )
    out = subprocess.run(
        [sys.executable, str(path)], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        tail = f"{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
        raise AssertionError(f"isolated process failed (rc={out.returncode}):\n{tail}")
    return out


def ship_kwargs(kwargs: dict, folder: Path) -> str:
    """Save ``kwargs`` into ``folder`` and return Python source that rebuilds them as ``kwargs`` in the isolated
    process: models (``AutoModelForCausalLM``) and tokenizers (``AutoTokenizer``) through ``save_pretrained``, plain
    values through JSON. Anything else cannot cross the process boundary and fails the test."""
    import json

    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["from transformers import AutoModelForCausalLM, AutoTokenizer", "kwargs = {}"]
    plain = {}
    for key, value in kwargs.items():
        if isinstance(value, PreTrainedModel):
            value.save_pretrained(folder / key)
            lines.append(f"kwargs[{key!r}] = AutoModelForCausalLM.from_pretrained({str(folder / key)!r}).eval()")
        elif isinstance(value, PreTrainedTokenizerBase):
            value.save_pretrained(folder / key)
            lines.append(f"kwargs[{key!r}] = AutoTokenizer.from_pretrained({str(folder / key)!r})")
        else:
            try:
                plain[key] = json.loads(json.dumps(value))
            except (TypeError, ValueError) as exc:
                raise AssertionError(f"kwarg {key!r} ({type(value).__name__}) cannot be shipped to a process") from exc
    (folder / "plain.json").write_text(json.dumps(plain))
    lines += ["import json", f"kwargs.update(json.loads(open({str(folder / 'plain.json')!r}).read()))"]
    return "\n".join(lines) + "\n"
