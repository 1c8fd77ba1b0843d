# Generated from hf_tokens (_triton_utils.py) by export_kernel; do not edit.
"""Shared helpers of the Triton kernels in ``hf_tokens.ops`` (no triton import here)."""

from __future__ import annotations

import os


def interpreter_enabled() -> bool:
    """Whether Triton kernels run in the CPU interpreter (``TRITON_INTERPRET=1``, read when a kernel is defined)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_available() -> bool:
    """Whether the ``triton`` package can be imported."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True
