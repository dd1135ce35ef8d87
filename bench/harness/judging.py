"""The judge's rubrics and how their outputs are read: shared by the judge that grades and the
validator that re-parses every logged judge output, which must not need a model to do so.

A record names its rubric by hash. New runs use `CURRENT`, the study's setting: a 0-10
integer and a one-sentence rationale as one JSON object; an output that is not such an object
is malformed: counted (`judge_malformed`) and left out of the `judge` mean, never scored. The
first rubric (`LEGACY`: a bare number, unparseable counted as 0) stays known by its hash, so
records judged with it still validate as they were made.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

METRIC = "judge"
MALFORMED = "judge_malformed"  # share of judge outputs that gave no valid verdict (JSON rubrics)
METRICS = (METRIC, MALFORMED)

LEGACY_TEXT = """You are grading an answer to a question about a research paper, against a reference answer.

Question: {question}
Reference answer: {reference}
Answer to grade: {answer}

Give one score from 0 to 10 that weighs three things: factual alignment (the answer states the
reference's facts and contradicts none of them), completeness (it covers the reference's key
points) and relevance (it answers the question that was asked). 0 means wrong, empty or off
topic; 10 means as good as the reference. Reply with the score only, a whole number."""

STUDY_TEXT = """You grade one answer to a question about a research paper by comparing it with the gold answer.

Question: {question}
Gold answer: {reference}
Answer to grade: {answer}

Weigh three things:
1. Correctness: the answer agrees with the facts of the gold answer and contradicts none of them.
2. Completeness: it gives every key point of the gold answer.
3. Nothing invented: it adds no claim that is neither in the gold answer nor follows from it.

Score on this scale, a whole number from 0 to 10:
10: correct, complete, nothing invented.
7-9: correct, but a minor point is missing or a little harmless extra is added.
4-6: the main idea is right, but with a clear error, a major gap or invented content.
1-3: on the topic, but wrong.
0: wrong, empty, or no answer to the question.

Reply with one JSON object and nothing else:
{{"score": <whole number 0-10>, "rationale": "<one sentence saying why>"}}"""

SCORE = re.compile(r"\b(10|[0-9])\b")


@dataclass(frozen=True)
class Verdict:
    """A judge output read as a score on the rubric's scale, with the judge's reason when it gave one."""

    score: int
    rationale: str = ""


@dataclass(frozen=True)
class Rubric:
    """A judging prompt, its scale, and whether its output is a JSON verdict (else a bare number)."""

    text: str  # with {question}, {reference} and {answer}
    scale: int = 10  # scores run from 0 to `scale`; the `judge` metric is score / scale
    structured: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def prompt(self, question: str, reference: str, answer: str) -> str:
        return self.text.format(question=question, reference=reference, answer=answer)

    def parse(self, output: str) -> Verdict | None:
        """The verdict in a judge output, or None when the output is malformed."""
        if not self.structured:
            score = parse_score(output)
            return None if score is None else Verdict(int(score))
        return parse_verdict(output, self.scale)

    def sample_metrics(self, output: str) -> dict[str, float]:
        """What one judged answer adds to its sample's metrics. The bare-number rubric scores a
        malformed output 0, as it always did; a JSON rubric leaves it unscored and counts it."""
        verdict = self.parse(output)
        if not self.structured:
            return {METRIC: (verdict.score if verdict else 0) / self.scale}
        if verdict is None:
            return {MALFORMED: 1.0}
        return {METRIC: verdict.score / self.scale, MALFORMED: 0.0}


def parse_score(output: str) -> float | None:
    """The first whole number 0-10 in the judge's output, or None when there is none (the legacy rubric)."""
    found = SCORE.search(output)
    return float(found.group(1)) if found else None


def parse_verdict(output: str, scale: int = 10) -> Verdict | None:
    """The first JSON object in `output` (prose or a code fence around it is allowed), if it holds
    an integer `score` in 0..scale and a non-empty string `rationale`; else None (malformed)."""
    decoder = json.JSONDecoder()
    for start in (i for i, char in enumerate(output) if char == "{"):
        try:
            found, _ = decoder.raw_decode(output, start)
        except json.JSONDecodeError:
            continue
        if not isinstance(found, dict):
            continue
        score, rationale = found.get("score"), found.get("rationale")
        valid_score = isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= scale
        if valid_score and isinstance(rationale, str) and rationale.strip():
            return Verdict(score, rationale.strip())
        return None  # the first object is the verdict; a wrong one is not rescued by a later one
    return None


LEGACY = Rubric(LEGACY_TEXT)
STUDY = Rubric(STUDY_TEXT, scale=10, structured=True)
CURRENT = STUDY  # what new judged runs use
RUBRICS: Mapping[str, Rubric] = {r.sha256: r for r in (LEGACY, STUDY)}


def rubric_by_hash(sha256: str) -> Rubric | None:
    """The rubric a record names, or None when this kmbench does not know it."""
    return RUBRICS.get(sha256)


def identity_rubric(sha256: str) -> str | None:
    """The rubric as it enters a run id: runs judged with the legacy rubric were keyed without it."""
    return None if sha256 == LEGACY.sha256 else sha256
