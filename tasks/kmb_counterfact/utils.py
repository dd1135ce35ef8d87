"""lm-eval hooks for the CounterFact tasks."""

from __future__ import annotations

import re
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


ABSTAIN = re.compile(r"\bunknown\b|\bdon'?t know\b|\bdo not know\b|\bnot (?:known|sure)\b", re.I)


def starts_with(text: str, obj: str) -> bool:
    """The answer's first words are the object's (SQuAD normalization)."""
    want = normalize(obj).split()
    return bool(want) and normalize(text).split()[: len(want)] == want


def process_absent(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """A subject no edit touched: keeps_own, the model's own object; edit_leak, one of the book's
    counterfactual objects that is not its own; abstain, it says it does not know."""
    answer = results[0]
    own = starts_with(answer, doc["old"])
    leak = not own and any(starts_with(answer, obj) for obj in doc["book_objects"])
    return {"keeps_own": float(own), "edit_leak": float(leak), "abstain": float(bool(ABSTAIN.search(answer)))}
