"""Provenance for records: package versions, hardware, and the git state of this checkout."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from bench.model.threads import load_average

PACKAGES = ("kmbench", "torch", "transformers", "peft", "lm_eval", "sentence-transformers", "faiss-cpu", "datasets")


def package_version(name: str) -> str | None:
    """The installed version, or None when absent, so provenance never fails a run."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Software and hardware facts for a record's `env`, so timings can be judged against the machine."""
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": load_average(),  # above the CPUs: another process shared them during the run
        "device": device,
        # the kernels torch picks follow the CPU's instruction set, and so do the last bits of every
        # sum: trained memories reproduce answer for answer only on the same kind (bench.board.reproduce)
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "packages": {name: package_version(name) for name in PACKAGES},
    }


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (None where there is none, e.g. macOS)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
