"""Reading cost, seconds per question as a run counts it (answer time plus recall time):
closed book, ICL at several context sizes, RAG, one question at a time, and multi-LoRA loading."""

from __future__ import annotations

from typing import Any

from bench.answer.lm import MemoryLM, evaluate
from bench.answer.reader import Reader
from bench.core.memory import LoadedModel, Memory
from bench.core.metrics import parse_results
from bench.harness.taskspec import task_spec
from bench.model.adapters import unload_adapters
from bench.run.memories import make_memory
from bench.study.adapter_loading import compare_loading
from bench.study.perf.config import PerfConfig
from bench.study.perf.quantities import Measure, context_label, icl_name


def read_measure(
    name: str, label: str, lm: LoadedModel, memory: Memory, manager: Any, cfg: PerfConfig, **how: Any
) -> Measure:
    """Answer the read task's first questions through lm-eval with this memory; `how` may set the
    reader's `batch_size` and the `budget` (context tokens; None: what the window leaves)."""
    reader = Reader(lm, how.get("batch_size", cfg.batch_size))
    memory_lm = MemoryLM(memory, reader, how.get("budget"))
    results = evaluate(memory_lm, cfg.read_task, manager, cfg.seed, limit=cfg.read_questions)
    answers = [asked.answer for asked in memory_lm.log.asked.values()]
    n = len(answers)
    metrics = parse_results(results["results"][cfg.read_task])
    details = {
        "questions": n,
        "batch_size": reader.batch_size,
        "context_tokens": sum(a.context_tokens for a in answers) / n,
        "prompt_tokens": sum(a.prompt_tokens for a in answers) / n,
        "recall_seconds": memory_lm.log.recall_seconds,
        cfg.target_metric: metrics.get(cfg.target_metric, (None,))[0],
    }
    seconds = (sum(a.seconds for a in answers) + memory_lm.log.recall_seconds) / n  # as the record's read s/query
    return Measure(name, label, seconds, "s/question", details)


def reading_measures(lm: LoadedModel, manager: Any, cfg: PerfConfig) -> list[Measure]:
    """Every memory reads the same questions; ICL packs the read task's corpus to each context size."""
    corpus = task_spec(manager, cfg.read_task).corpus()
    unload_adapters(lm)
    none = make_memory("none", {}, cfg.seed)
    measures = [read_measure("read_none", "read, closed book", lm, none, manager, cfg)]
    icl = make_memory("icl", {}, cfg.seed)
    icl.write(corpus, lm)
    for tokens in cfg.icl_contexts:
        label = f"read, ICL at {context_label(tokens)} context"
        measures.append(read_measure(icl_name(tokens), label, lm, icl, manager, cfg, budget=tokens))
    rag = make_memory("rag", {}, cfg.seed)
    rag.write(corpus, lm)
    measures.append(read_measure("read_rag", "read, RAG (top-1)", lm, rag, manager, cfg))
    label = "read, closed book, one question at a time"
    measures.append(read_measure("read_none_one_at_a_time", label, lm, none, manager, cfg, batch_size=1))
    return measures


def multilora_measures(lm: LoadedModel, manager: Any, cfg: PerfConfig) -> list[Measure]:
    """Multi-LoRA reading three ways (`bench.study.adapter_loading`): seconds per question each."""
    times = compare_loading(
        lm,
        cfg.multilora_task,
        cfg.multilora_modules,
        cfg.batch_size,
        cfg.multilora_questions or None,
        dict(cfg.multilora_fields),
        manager,
    )
    n = times.questions
    details = {
        "task": cfg.multilora_task,
        "modules": times.modules,
        "questions": n,
        "identical_answers": times.identical,
    }
    ways = (
        ("multilora_load", "module loaded per question", times.per_query_load),
        ("multilora_preloaded", "preloaded", times.preloaded),
        ("multilora_preloaded_batched", "preloaded and batched", times.preloaded_batched),
    )
    what = f"read, multi-LoRA ({times.modules} modules)"
    return [Measure(name, f"{what}, {way}", seconds / n, "s/question", details) for name, way, seconds in ways]
