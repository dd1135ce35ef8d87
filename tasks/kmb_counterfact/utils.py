"""lm-eval hooks for the CounterFact tasks."""

from __future__ import annotations

from typing import Any

from bench.harness.scoring import normalize


def process_generation(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """exact_match: the continuation's first word is the new object (SQuAD normalization), so
    "Italian, and" or "Italian language" count and "not Italian" does not."""
    words = normalize(results[0]).split()
    return {"exact_match": float(words[:1] == normalize(doc["new"]).split())}


def process_efficacy(doc: dict[str, Any], results: list[Any]) -> dict[str, float]:
    """efficacy: the new object's log-likelihood beats the old object's (ties count as failures)."""
    new, old = (float(r[0]) for r in results)
    return {"efficacy": float(new > old)}
