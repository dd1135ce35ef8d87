"""Short-answer scoring shared by QA tasks: SQuAD-style normalization, exact match, token F1."""

from __future__ import annotations

import functools
import math
import re
import string
from collections import Counter
from collections.abc import Sequence

ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    """Lowercase, drop punctuation and articles, squeeze spaces (the SQuAD evaluation's rule)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD's token-overlap F1: partial credit for answers exact match would call wrong."""
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref:
        return float(pred == ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def qa_scores(prediction: str, answers: Sequence[str]) -> dict[str, float]:
    """Best exact match and best token F1 over the accepted answers, on the first answer line."""
    first_line = prediction.strip().split("\n")[0]
    return {
        "exact_match": max(float(normalize(first_line) == normalize(a)) for a in answers),
        "f1": max(token_f1(first_line, a) for a in answers),
    }


@functools.cache
def _rouge_scorer():  # -> rouge_score.rouge_scorer.RougeScorer, built once
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of tokens), via Google's rouge-score."""
    return _rouge_scorer().score(reference, prediction)["rougeL"].fmeasure


def stderr_of(values: Sequence[float]) -> float:
    """lm-eval's stderr of a mean: sample standard deviation over sqrt(n)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1)) / math.sqrt(n)
