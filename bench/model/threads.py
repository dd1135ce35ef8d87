"""Torch's threads from the CPUs this process may use, and a warning when others compete for them.

torch sizes its pool from the machine's cores, not from the CPU affinity or the cgroup quota a
container gives it, and more threads than usable CPUs makes every matmul slower. Every timing
KMBench reports is judged against the machine's peak, so a run that shares its CPUs with another
heavy process says so (the load average is also in each record's `env`).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import torch

log = logging.getLogger(__name__)


CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CPU_MAX) -> int:
    """The CPUs this process may run on: its affinity, capped by a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return max(1, cpus)


def fit_threads() -> int:
    """Set torch's threads to the usable CPUs (when it has more) and warn when the machine is
    already busier than them; returns the thread count."""
    cpus = usable_cpus()
    if torch.get_num_threads() > cpus:
        torch.set_num_threads(cpus)
    load = load_average()
    if load is not None and load > cpus:
        log.warning(
            "the 1-minute load average (%.1f) exceeds the %d CPUs this process may use: another process "
            "shares them, so timings will be slower than this machine's",
            load,
            cpus,
        )
    return torch.get_num_threads()


def load_average() -> float | None:
    """The 1-minute load average, None where the system has none."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
