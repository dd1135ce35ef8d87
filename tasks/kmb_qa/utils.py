"""lm-eval hooks for short-answer QA tasks (`{id, question, answers[]}` JSONL)."""

from __future__ import annotations

from typing import Any

from bench.harness.scoring import qa_scores


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """exact_match and token F1 (SQuAD normalization), each the best over the accepted answers."""
    return qa_scores(results[0], doc["answers"])
