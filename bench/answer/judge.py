"""An optional LLM judge for long answers (PaperQA): any local model grades each answer 0-10.

Off by default (`kmbench run --judge MODEL`). The rubric follows the reference study's:
factual alignment, completeness and relevance against the reference answer, decoded greedily
(temperature 0); an output with no score in 0-10 counts as 0. The judge's raw output is kept
in every sample, so a reviewer can re-parse it and see what the judge said.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from bench.answer.reader import Reader
from bench.core.memory import LoadedModel, Recall
from bench.harness.judging import METRIC, RUBRIC, parse_score


def judge_prompts(samples: Sequence[dict[str, Any]]) -> list[str]:
    """The rubric filled in per sample, grading the reader's stripped response against the first reference."""
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
