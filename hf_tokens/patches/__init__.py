"""Opt-in runtime patches: each has apply_*/revert_* and a context manager; nothing is patched at import time."""
