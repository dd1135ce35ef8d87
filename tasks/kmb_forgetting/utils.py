"""lm-eval hooks for the forgetting probe (data beside this file; scoring from kmb_qa)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.taskdata import jsonl_dataset

HERE = Path(__file__).resolve().parent


def load_qa(qa: str, **_: Any) -> Any:
    return jsonl_dataset(qa, HERE)
