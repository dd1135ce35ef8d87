"""lm-eval hooks for the CounterFact tasks (data beside this file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.scoring import normalize
from bench.taskdata import jsonl_dataset

HERE = Path(__file__).resolve().parent


def load_qa(qa: str, **_: Any) -> Any:
    return jsonl_dataset(qa, HERE)


def process_generation(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """exact_match: the continuation's first word is the new object (SQuAD normalization), so
    "Italian, and" or "Italian language" count and "not Italian" does not."""
    words = normalize(results[0]).split()
    return {"exact_match": float(words[:1] == normalize(doc["new"]).split())}


def process_efficacy(doc: dict[str, Any], results: list[Any]) -> dict[str, float]:
    """efficacy: the new object's log-likelihood beats the old object's (ties count as failures)."""
    new, old = (float(r[0]) for r in results)
    return {"efficacy": float(new > old)}
