"""Hub `custom_generate` entry point: the exported repository's `generate.py` imports `generate` from here.

``generate`` accepts both call conventions (see :mod:`hf_tokens.generation.entry`).
"""

from hf_tokens.generation.s2d.s2d import generate

__all__ = ["generate"]
