"""Measure answering with many adapters: loaded per query (as the study's Q15 did) against loaded once.

    python -m bench.study.adapter_loading [--model smollm2-135m] [--task kmb_phonebook_1k] [--modules 4]

Trains (or takes from the cache) the task's K oracle-routed modules, then answers every
question (or N spread evenly over the task, so that every module is asked) three ways and
prints seconds and ratios:
  per-query load   the question's module read from disk before answering it, one at a time;
  preloaded        all modules loaded once, still one question at a time;
  preloaded+batch  all modules loaded once, questions grouped by module and batched (KMBench's reader).
`make perf` takes the same measurement through `compare_loading`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.answer.lm import gold_doc
from bench.answer.reader import Reader
from bench.core.config import DEFAULT_MODEL
from bench.core.memory import LoadedModel, Query
from bench.harness.roles import task_roles
from bench.harness.taskspec import task_manager, task_spec
from bench.model.adapters import bare_model, load_adapter
from bench.model.loading import load_model
from bench.model.packing import mean_tokens
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


def compare_loading(
    lm: LoadedModel,
    task_name: str,
    modules: int = 4,
    batch_size: int = 16,
    limit: int | None = None,
    fields: Mapping[str, Any] | None = None,
    manager: Any = None,
) -> LoadingTimes:
    """Answer `limit` of the task's questions, spread evenly (all by default), the three ways;
    `fields` are extra `multilora` config fields (e.g. fewer training steps for a smoke measurement)."""
    from lm_eval.tasks import get_task_dict

    manager = manager or task_manager()
    spec = task_spec(manager, task_name)
    task = get_task_dict([task_name], manager)[task_name]
    every = list(task.eval_docs)
    docs = [every[i] for i in evenly_spread(len(every), limit)]
    prompts = [task.doc_to_text(d) for d in docs]
    gen = task.config.generation_kwargs or {}
    until, max_new = list(gen.get("until") or []), int(gen.get("max_gen_toks", 64))
    memory = make_memory("multilora", {"modules": modules, **(fields or {})}, seed=0)
    with bare_model(lm):  # training the modules leaves nothing installed
        memory.write(spec.corpus(), lm)
    recalls = memory.recall([Query(p, gold_doc(d)) for p, d in zip(prompts, docs, strict=True)], 0)
    folders = memory.folders
    reader = Reader(lm, batch_size)

    def one_at_a_time(load_each: bool) -> tuple[float, list[str]]:
        started, texts = time.perf_counter(), []
        for prompt, recall in zip(prompts, recalls, strict=True):
            if not load_each:
                texts += [a.text for a in reader.generate([prompt], [recall], 0, until, max_new)]
                continue
            with bare_model(lm):  # what a server without an adapter store does: read the module, then answer
                name = recall.adapters[0]
                load_adapter(lm, name, folders[int(name.removeprefix("m"))])
                texts += [a.text for a in reader.generate([prompt], [recall], 0, until, max_new)]
        return time.perf_counter() - started, texts

    per_query, loaded_texts = one_at_a_time(load_each=True)
    with bare_model(lm):
        for i, folder in enumerate(folders):
            load_adapter(lm, f"m{i}", folder)
        preloaded, single_texts = one_at_a_time(load_each=False)
        started = time.perf_counter()
        batched = [a.text for a in reader.generate(prompts, list(recalls), 0, until, max_new)]
        grouped = time.perf_counter() - started
    return LoadingTimes(
        questions=len(prompts),
        modules=len(folders),
        memory=memory_label(memory),
        module_steps=memory.config.max_steps,
        per_query_load=per_query,
        preloaded=preloaded,
        preloaded_batched=grouped,
        identical=sum(a == b == c for a, b, c in zip(loaded_texts, single_texts, batched, strict=True)),
        answer_tokens=mean_tokens(lm.tokenizer, single_texts),
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
