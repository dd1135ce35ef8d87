"""lm-eval hooks for short-answer QA tasks (`{id, question, answers[]}` JSONL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.scoring import qa_scores
from bench.taskdata import jsonl_dataset

HERE = Path(__file__).resolve().parent


def load_qa(qa: str, **_: Any) -> Any:
    return jsonl_dataset(qa, HERE)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """exact_match and token F1 (SQuAD normalization), each the best over the accepted answers."""
    return qa_scores(results[0], doc["answers"])
