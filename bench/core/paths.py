"""Where KMBench keeps what it builds once and reuses: converted models, adapters, indexes."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TASKS_DIR = PROJECT_ROOT / "tasks"


def cache_dir() -> Path:
    """`KMBENCH_CACHE`, else the user's cache folder (XDG), created on first use."""
    root = os.environ.get("KMBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kmbench"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
