"""Hub `custom_generate` entry point: the exported repository's `generate.py` imports `generate` from here.

``generate`` accepts both call conventions (see :mod:`hf_tokens.generation.entry`): the raw arguments of a
``custom_generate=<folder or repo>`` call, and the prepared ones of ``custom_generate=<callable>``.
"""

from hf_tokens.generation.entropy_adaptive.ead import generate

__all__ = ["generate"]
