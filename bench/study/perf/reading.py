"""Reading cost, seconds per question as a run counts it (answer time plus recall time):
closed book, ICL at several context sizes or cut at the window, RAG, one question at a time, and
multi-LoRA loading. The questions are spread evenly over the task (tasks list theirs document by
document: the long document's first 30 are all on its first paper)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.core.memory import Corpus, LoadedModel, Memory
from bench.core.metrics import parse_results
from bench.harness.taskspec import task_spec
from bench.model.cost import question_flops
from bench.model.packing import count_tokens, mean_tokens
from bench.run.evaluation import Reading, evaluate_memory
from bench.run.memories import make_memory, memory_label
from bench.study.adapter_loading import compare_loading, evenly_spread
from bench.study.perf.config import WINDOW, PerfConfig
from bench.study.perf.quantities import Measure, icl_label, icl_name


def spread_questions(manager: Any, task: str, n: int) -> list[int]:
    """`n` of the task's question indices (lm-eval's doc ids), spread evenly over all of them."""
    from lm_eval.tasks import get_task_dict

    return evenly_spread(len(get_task_dict([task], manager)[task].eval_docs), n)


def truncation(dropped: Sequence[int], sections: Sequence[int]) -> dict[str, Any]:
    """How much of the document a context left out. ICL keeps whole sections in order, so a
    question that dropped d of them kept the first len - d; the share is of the document's tokens."""
    total = sum(sections)
    kept = [sum(sections[: len(sections) - d]) for d in dropped]
    return {
        "document_tokens": total,
        "sections": len(sections),
        "sections_dropped": max(dropped),
        "truncated_share": 1.0 - sum(kept) / len(kept) / total if total else 0.0,
        "questions_truncated": sum(d > 0 for d in dropped) / len(dropped),  # the records' `truncated`
    }


def read_measure(
    name: str,
    label: str,
    lm: LoadedModel,
    memory: Memory,
    corpus: Corpus,
    manager: Any,
    cfg: PerfConfig,
    questions: Sequence[int],
    **how: Any,
) -> Measure:
    """Write the memory and answer the read task's `questions` (lm-eval doc ids) through the one
    path a run takes (`evaluate_memory`); `how`
    may set the reader's `batch_size`, the `budget` (context tokens; None: what the window leaves)
    and the document's `sections` (token counts), to report how much of it the context cut."""
    batch_size = how.get("batch_size", cfg.batch_size)
    reading = Reading(cfg.seed, batch_size, context_budget=how.get("budget"), questions=tuple(questions))
    done = evaluate_memory(lm, memory, corpus, cfg.read_task, manager, reading, probe=False)
    log = done.log
    answers = [asked.answer for asked in log.asked.values()]
    n = len(answers)
    metrics = parse_results(done.results["results"][cfg.read_task])
    details = {
        "task": cfg.read_task,
        "questions": n,
        "memory": memory_label(memory),
        "batch_size": batch_size,
        "context_tokens": sum(a.context_tokens for a in answers) / n,
        "prompt_tokens": sum(a.prompt_tokens for a in answers) / n,
        "answer_tokens": mean_tokens(lm.tokenizer, [a.text for a in answers]),  # seconds grow with them
        "recall_seconds": log.recall_seconds,
        cfg.target_metric: metrics.get(cfg.target_metric, (None,))[0],
    }
    own = sum(a.prompt_tokens - a.context_tokens for a in answers) / n
    details["flops_per_question"] = question_flops(
        lm.model.config, lm.n_params, own, details["answer_tokens"], details["context_tokens"]
    )
    details["prefix_seconds"] = sum(p.seconds for p in log.prefixes)  # encoded once, not per question
    if how.get("sections"):
        details |= truncation([a.dropped for a in answers], how["sections"])
    return Measure(name, label, log.seconds_per_question(), "s/question", details)


def reading_measures(lm: LoadedModel, manager: Any, cfg: PerfConfig) -> list[Measure]:
    """Every memory reads the same questions, batched, then those `cfg.one_at_a_time` names one
    question at a time; ICL packs the read task's corpus to each context size."""
    corpus = task_spec(manager, cfg.read_task).corpus()
    questions = spread_questions(manager, cfg.read_task, cfg.read_questions)  # the suite starts it bare
    none = make_memory("none", {}, cfg.seed)
    icl = make_memory("icl", {"profile": cfg.profile}, cfg.seed)
    sections = [count_tokens(lm.tokenizer, d.contents) for d in corpus.documents]
    rag = make_memory("rag", {"profile": cfg.profile}, cfg.seed)
    top, chunk = rag.config.top_k, rag.config.chunk_tokens
    readings: list[tuple[str, str, str, Memory, dict[str, Any]]] = [  # (reader, measure, label, memory, how)
        ("none", "read_none", "read, closed book", none, {})
    ]
    for tokens in cfg.icl_contexts:
        how = {"budget": None if tokens == WINDOW else tokens, "sections": sections}
        readings.append(("icl", icl_name(tokens), f"read, {icl_label(tokens)}", icl, how))
    readings.append(("rag", "read_rag", f"read, RAG ({memory_label(rag)}: top {top} of {chunk}-token chunks)", rag, {}))
    measures = [
        read_measure(name, label, lm, m, corpus, manager, cfg, questions, **how) for _, name, label, m, how in readings
    ]
    batched = list(measures)
    for reader, name, label, memory, how in readings:
        if reader in cfg.one_at_a_time:
            one = f"{label}, one question at a time"
            measures.append(read_measure(f"{name}_one_at_a_time", one, lm, memory, corpus, manager, cfg, questions,
                                         batch_size=1, **how))  # fmt: skip
    return measures + [  # what each reading must compute, beside what it took
        Measure(f"{m.name}_flops", f"{m.label}: FLOPs a question must compute", m.details["flops_per_question"] / 1e9,
                "GFLOP/question", {**m.details, "formula": "bench.model.cost.question_flops"})
        for m in batched
    ]  # fmt: skip


def multilora_measures(lm: LoadedModel, manager: Any, cfg: PerfConfig) -> list[Measure]:
    """Multi-LoRA reading three ways (`bench.study.adapter_loading`): seconds per question each."""
    times = compare_loading(
        lm,
        cfg.multilora_task,
        cfg.multilora_modules,
        cfg.batch_size,
        cfg.multilora_questions or None,
        {"profile": cfg.profile, **dict(cfg.multilora_fields)},
        manager,
    )
    n = times.questions
    details = {
        "task": cfg.multilora_task,
        "memory": times.memory,
        "modules": times.modules,
        "module_steps": times.module_steps,
        "questions": n,
        "identical_answers": times.identical,
        "answer_tokens": times.answer_tokens,
    }
    ways = (
        ("multilora_load", "module loaded per question", times.per_query_load),
        ("multilora_preloaded", "preloaded", times.preloaded),
        ("multilora_preloaded_batched", "preloaded and batched", times.preloaded_batched),
    )
    what = f"read, multi-LoRA ({times.modules} modules)"
    return [Measure(name, f"{what}, {way}", seconds / n, "s/question", details) for name, way, seconds in ways]
