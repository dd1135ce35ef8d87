"""Measuring what a phase costs: wall seconds and peak memory (RSS, or CUDA memory when used)."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import torch


def _reset_rss_peak() -> bool:
    """Linux lets a process reset its high-water mark, which makes per-phase peaks possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class PeakMemory:
    """`with PeakMemory() as m: ...` then `m.megabytes` and `m.seconds` for that block."""

    def __enter__(self) -> PeakMemory:
        self.per_phase = _reset_rss_peak()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
        if torch.cuda.is_available():
            self.megabytes = torch.cuda.max_memory_allocated() / 2**20
        else:
            self.megabytes = _rss_peak_mb()
