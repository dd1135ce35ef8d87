"""lm-eval hooks for PaperQA: long answers scored by ROUGE-L and token F1, overall and per level."""

from __future__ import annotations

import re
from typing import Any

from bench.harness.scoring import rouge_l, token_f1


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """Overall scores for every question, plus `<score>_l<level>` for its level only, so
    lm-eval's mean of a level key is the mean over that level's questions."""
    answer = results[0].strip()
    f1 = max(token_f1(answer, reference) for reference in doc["answers"])
    rouge = max(rouge_l(answer, reference) for reference in doc["answers"])
    level = doc["level"]
    return {"rougeL": rouge, "f1": f1, f"rougeL_l{level}": rouge, f"f1_l{level}": f1}


ABSTAIN = re.compile(r"\bunknown\b|\bdon'?t know\b|\bdo not know\b|\bnot (?:known|mentioned|stated|provided)\b", re.I)


def process_absent(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """A question on a paper the memory does not hold: abstain, it says it does not know;
    made_up, it answers anything else."""
    answer = results[0].strip()
    abstained = bool(ABSTAIN.search(answer))
    return {"abstain": float(abstained), "made_up": float(bool(answer) and not abstained)}
