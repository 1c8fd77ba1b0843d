"""Peak bytes that torch allocates while a function runs, on CPU (profiler) or CUDA (allocator statistics).

``tracemalloc`` does not see torch's allocator and the process RSS high-water mark cannot be reset between
measurements, so on CPU we record every allocation and free of torch's CPU allocator with the profiler
(``profile_memory=True``) and take the peak of the running total, relative to the start of ``fn``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from typing import Any


def peak_allocated_bytes(fn: Callable[[], Any], device: str = "cpu") -> int:
    """Peak of (bytes allocated by torch - bytes allocated before ``fn``) while ``fn()`` runs."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - base)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as fh:
            events = json.load(fh)["traceEvents"]
    finally:
        os.unlink(path)
    mem = sorted(
        (e for e in events if e.get("name") == "[memory]" and e["args"].get("Device Type", 0) == 0),
        key=lambda e: (e["ts"], e["args"].get("Ev Idx", 0)),
    )
    total = peak = 0
    for e in mem:
        total += int(e["args"]["Bytes"])
        peak = max(peak, total)
    return peak
