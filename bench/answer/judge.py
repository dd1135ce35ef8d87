"""An optional LLM judge for long answers (PaperQA): a local model, or an OpenAI-compatible
endpoint, grades each answer against the reference with the current rubric
(`bench.harness.judging`: a JSON verdict, 0-10 with a rationale).

Off by default (`kmbench run --judge MODEL`). The judge decodes greedily (temperature 0). Its
raw output is kept in every sample, so a reviewer can re-parse it and see what it said; an
output that is no valid verdict is counted as malformed and left unscored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bench.answer.endpoint import MAX_TOKENS
from bench.answer.reader import Reader
from bench.core.memory import LoadedModel, Recall
from bench.harness.judging import CURRENT, Rubric


class Judge(Protocol):
    """Whatever grades: it has a name, the id of the weights that answered, and answers prompts."""

    name: str
    model_id: str

    def ask(self, prompts: Sequence[str]) -> list[str]:
        """One output per prompt, in order."""
        ...


@dataclass
class LocalJudge:
    """A loaded model as the judge, read through its chat template when it has one (instruction-tuned
    judges follow a rubric far better that way), with no adapters and no context."""

    model: LoadedModel
    batch_size: int = 16

    @property
    def name(self) -> str:
        """What the user asked for: an alias, a hub id or a folder."""
        return self.model.name

    @property
    def model_id(self) -> str:
        """The judge's weights, as records identify models."""
        return self.model.model_id

    def ask(self, prompts: Sequence[str]) -> list[str]:
        """Greedy outputs of up to the study's 256 tokens; an instruction-tuned judge ends its turn after the JSON."""
        chat = bool(getattr(self.model.tokenizer, "chat_template", None))
        reader = Reader(dataclasses.replace(self.model, chat_template=chat, answer_turn="assistant"), self.batch_size)
        answers = reader.generate(prompts, [Recall()] * len(prompts), budget=0, until=[], max_new_tokens=MAX_TOKENS)
        return [a.text for a in answers]


def judge_prompts(samples: Sequence[dict[str, Any]], rubric: Rubric = CURRENT) -> list[str]:
    """The rubric filled in per sample, grading the reader's stripped response against the first reference."""
    return [rubric.prompt(s["doc"]["question"], s["doc"]["answers"][0], s["response"].strip()) for s in samples]


def judge_samples(judge: Judge, samples: list[dict[str, Any]], rubric: Rubric = CURRENT) -> int:
    """Add the judge's raw output and its metrics to each sample; returns how many outputs were malformed."""
    outputs = judge.ask(judge_prompts(samples, rubric))
    malformed = 0
    for sample, output in zip(samples, outputs, strict=True):
        malformed += rubric.parse(output) is None
        sample["judge_output"] = output
        sample["metrics"].update(rubric.sample_metrics(output))
    return malformed
