"""Forgetting: ask the probe task (`probe_task` in tasks/roles.yaml) with a memory's adapters on
and compare with the base model.

The probe is an lm-eval task like any other (so stock lm-eval with `peft=` can ask it too);
here both sides go through `MemoryLM`, the base side with the closed-book memory, and each
answer is scored by the probe task's own `process_results`.
"""

from __future__ import annotations

from typing import Any

from bench.answer.lm import MemoryLM, evaluate
from bench.answer.reader import Reader
from bench.core.memory import Memory
from bench.harness.roles import task_roles
from bench.run.record import Forgetting

SCORE = "exact_match"


def ask_probe(memory: Memory, reader: Reader, manager: Any, seed: int) -> tuple[list[str], list[float], str]:
    """(answers, exact-match scores, task version), in the probe's question order."""
    probe = task_roles().probe_task
    results = evaluate(MemoryLM(memory, reader), probe, manager, seed, bootstrap_iters=0)
    samples = sorted(results["samples"][probe], key=lambda s: s["doc_id"])
    version = str(results["configs"][probe].get("metadata", {}).get("version", "0"))
    return [s["filtered_resps"][0] for s in samples], [float(s[SCORE]) for s in samples], version


def forgetting(base: tuple[list[str], list[float], str], mine: tuple[list[str], list[float], str]) -> Forgetting:
    """Retention over only what the base model knew, so a memory is not blamed for questions it never had right."""
    base_answers, base_scores, version = base
    answers, scores, _ = mine
    known = [i for i, score in enumerate(base_scores) if score == 1.0]
    retained = sum(scores[i] == 1.0 for i in known)
    return Forgetting(
        task=task_roles().probe_task,
        version=version,
        base_answers=base_answers,
        memory_answers=answers,
        base_correct=len(known),
        retained=retained,
        retention=retained / len(known) if known else None,
    )
