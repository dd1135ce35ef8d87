"""An optional LLM judge for long answers (PaperQA): any local model grades each answer 0-10.

Off by default (`kmbench run --judge MODEL`). The rubric follows the reference study's:
factual alignment, completeness and relevance against the reference answer, decoded greedily
(temperature 0); an output with no score in 0-10 counts as 0. The judge's raw output is kept
in every sample, so a reviewer can re-parse it and see what the judge said.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from bench.memory import Recall
from bench.models import LoadedModel
from bench.reader import Reader

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


def judge_prompts(samples: Sequence[dict[str, Any]]) -> list[str]:
    return [
        RUBRIC.format(question=s["doc"]["question"], reference=s["doc"]["answers"][0], answer=s["response"].strip())
        for s in samples
    ]


def judge_samples(judge: LoadedModel, samples: list[dict[str, Any]], batch_size: int) -> int:
    """Add the judge's output and score (0-1) to each sample; returns how many were unparseable.

    The judge reads through its chat template when it has one (instruction-tuned judges
    follow the rubric far better that way), with no adapters and no context.
    """
    chat = bool(getattr(judge.tokenizer, "chat_template", None))
    reader = Reader(dataclasses.replace(judge, chat_template=chat), batch_size)
    prompts = judge_prompts(samples)
    answers = reader.generate(prompts, [Recall()] * len(prompts), budget=0, until=["\n"], max_new_tokens=8)
    unparseable = 0
    for sample, answer in zip(samples, answers, strict=True):
        score = parse_score(answer.text)
        unparseable += score is None
        sample["judge_output"] = answer.text
        sample["metrics"][METRIC] = (score or 0.0) / 10
    return unparseable
