"""lm-eval scoring hook for the PhoneBook tasks."""

from __future__ import annotations

import re
from typing import Any


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """exact_match: the first answer line equals the number; digits_match: the first
    NNN-NNN-NNNN-like span in the answer has the right ten digits (forgives chatty answers)."""
    answer = results[0].strip().split("\n")[0].strip()
    found = re.search(r"\d{3}\D{0,2}\d{3}\D{0,2}\d{4}", answer)
    return {
        "exact_match": float(answer == doc["answer"]),
        "digits_match": float(bool(found) and _digits(found.group(0)) == _digits(doc["answer"])),
    }
