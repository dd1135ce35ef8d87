"""Measure answering with many adapters: loaded per query (as the study's Q15 did) against loaded once.

    python -m bench.study.adapter_loading [--model smollm2-135m] [--task kmb_phonebook_1k] [--modules 4]

Trains (or takes from the cache) the task's K oracle-routed modules, then answers every
question (or N spread evenly over the task, so that every module is asked) three ways, each a
run of the one evaluation path, and prints seconds (answering and routing) and ratios:
  per-query load   `multilora(loading=per_query)`: the question's module read from disk before
                   answering it and dropped after, one question at a time;
  preloaded        all modules loaded once, still one question at a time;
  preloaded+batch  all modules loaded once, questions grouped by module and batched (KMBench's reader).
`make perf` takes the same measurement through `compare_loading`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.core.config import DEFAULT_MODEL
from bench.core.memory import LoadedModel
from bench.harness.roles import task_roles
from bench.harness.taskspec import task_manager, task_spec
from bench.model.loading import load_model
from bench.model.packing import mean_tokens
from bench.run.evaluation import Reading, evaluate_memory
from bench.run.memories import make_memory, memory_label


def evenly_spread(total: int, n: int | None) -> list[int]:
    """`n` indices spread evenly over `total` questions (all of them for None or n >= total): tasks
    list their questions document by document, so the first n would all ask the first module."""
    if n is None or n >= total:
        return list(range(total))
    return [i * total // n for i in range(n)]


@dataclass(frozen=True)
class LoadingTimes:
    """Wall seconds to answer the same questions each way, and how many answers all three agree on."""

    questions: int
    modules: int
    memory: str  # the multilora memory's label: its profile, split and changed fields
    module_steps: int  # training steps of each module (few for a latency measurement: time does not depend on them)
    per_query_load: float
    preloaded: float
    preloaded_batched: float
    identical: int
    answer_tokens: float  # mean length of the preloaded answers: a longer answer takes longer to write


WAYS = (  # (how a run is configured for it: multilora fields, reader batch size or None for the given one)
    ("per_query_load", {"loading": "per_query"}, 1),
    ("preloaded", {}, 1),
    ("preloaded_batched", {}, None),
)


def compare_loading(
    lm: LoadedModel,
    task_name: str,
    modules: int = 4,
    batch_size: int = 16,
    limit: int | None = None,
    fields: Mapping[str, Any] | None = None,
    manager: Any = None,
) -> LoadingTimes:
    """Answer `limit` of the task's questions, spread evenly (all by default), the three ways, each
    a run of the one evaluation path (`evaluate_memory`): `multilora(loading=per_query)` one question
    at a time, then the preloaded memory one at a time and batched. `fields` are extra `multilora`
    config fields (e.g. fewer training steps for a smoke measurement); the modules train once and
    the later ways take them from the adapter cache."""
    from lm_eval.tasks import get_task_dict

    manager = manager or task_manager()
    corpus = task_spec(manager, task_name).corpus()
    questions = tuple(evenly_spread(len(get_task_dict([task_name], manager)[task_name].eval_docs), limit))
    seconds, answers = {}, {}
    for way, loading, size in WAYS:
        memory = make_memory("multilora", {"modules": modules, **(fields or {}), **loading}, seed=0)
        reading = Reading(seed=0, batch_size=size or batch_size, questions=questions)
        log = evaluate_memory(lm, memory, corpus, task_name, manager, reading, probe=False).log
        seconds[way] = log.seconds_per_question() * len(log.asked)
        answers[way] = {key: asked.answer.text for key, asked in log.asked.items()}
    preloaded = answers["preloaded"]
    return LoadingTimes(
        questions=len(questions),
        modules=len(memory.folders),
        memory=memory_label(memory),
        module_steps=memory.config.max_steps,
        per_query_load=seconds["per_query_load"],
        preloaded=seconds["preloaded"],
        preloaded_batched=seconds["preloaded_batched"],
        identical=sum(len({answers[way][key] for way, _, _ in WAYS}) == 1 for key in preloaded),
        answer_tokens=mean_tokens(lm.tokenizer, list(preloaded.values())),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--task", default=task_roles().default_task)
    parser.add_argument("--modules", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    lm = load_model(args.model)
    times = compare_loading(lm, args.task, args.modules, args.batch_size)
    n = times.questions
    print(f"{args.task}: {n} questions, {times.modules} modules ({times.memory}), model {lm.name}, device {lm.device}")
    for label, seconds in (
        ("per-query load", times.per_query_load),
        ("preloaded", times.preloaded),
        ("preloaded+batch", times.preloaded_batched),
    ):
        print(f"  {label:<16} {seconds:8.1f} s  {seconds / n:6.3f} s/question  {times.per_query_load / seconds:5.2f}x")
    print(f"  identical answers across the three: {times.identical}/{n}; {times.answer_tokens:.0f} tokens an answer")


if __name__ == "__main__":
    main()
