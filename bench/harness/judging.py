"""The judge's rubric and how its output is read: shared by the judge that grades and the
validator that re-parses every logged judge output, which must not need a model to do so."""

from __future__ import annotations

import hashlib
import re

METRIC = "judge"
RUBRIC = """You are grading an answer to a question about a research paper, against a reference answer.

Question: {question}
Reference answer: {reference}
Answer to grade: {answer}

Give one score from 0 to 10 that weighs three things: factual alignment (the answer states the
reference's facts and contradicts none of them), completeness (it covers the reference's key
points) and relevance (it answers the question that was asked). 0 means wrong, empty or off
topic; 10 means as good as the reference. Reply with the score only, a whole number."""
RUBRIC_SHA256 = hashlib.sha256(RUBRIC.encode()).hexdigest()
SCORE = re.compile(r"\b(10|[0-9])\b")


def parse_score(output: str) -> float | None:
    """The first whole number 0-10 in the judge's output, or None when there is none."""
    found = SCORE.search(output)
    return float(found.group(1)) if found else None
