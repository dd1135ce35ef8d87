"""One run = one (model, task, memory config, seed): write the memory, let lm-eval read it, save a record.

Everything a user can get wrong is checked in `plan` before any model loads or file is
written; `execute` then runs the plan, skipping runs whose record already exists.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.answer.endpoint import Endpoint
from bench.answer.judge import Judge, LocalJudge, judge_samples
from bench.answer.lm import ReadLog
from bench.core.config import DEFAULT_MODEL, check, config_dict
from bench.core.git import git_state
from bench.core.memory import Corpus, LoadedModel, Memory, Routing
from bench.core.metrics import parse_results
from bench.harness.judging import CURRENT as JUDGE_RUBRIC
from bench.harness.judging import METRICS as JUDGE_METRICS
from bench.harness.judging import identity_rubric
from bench.harness.scoring import stderr_of
from bench.harness.taskspec import TaskSpec, expand_tasks, task_manager, task_spec
from bench.model.loading import check_answer_turn, load_model
from bench.model.packing import count_tokens
from bench.parts.routing import ROUTER_METRIC, router_precision
from bench.run.environment import environment, package_version
from bench.run.evaluation import Evaluation, Reading, Update, base_probe, evaluate_memory
from bench.run.identity import RunIdentity
from bench.run.memories import make_memory, memory_label
from bench.run.record import (
    Cost,
    JudgeInfo,
    MemoryInfo,
    Metric,
    ModelInfo,
    RunInfo,
    RunRecord,
    TaskInfo,
    load_record,
    record_paths,
    save_record,
    train_log_path,
    write_atomic,
)
from bench.run.retention import forgetting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    """What applies to every run of one invocation."""

    model: str = DEFAULT_MODEL
    seed: int = 0
    limit: int | None = None
    context_budget: int | None = None
    batch_size: int = 16
    chat_template: bool = False
    answer_turn: str = "assistant"  # in the chat template: reply as the assistant, or continue the user turn
    out: Path = Path("runs")
    force: bool = False
    include_paths: tuple[Path, ...] = ()
    forgetting: bool = True  # ask the retention probe after every run that installs adapters
    judge: str | None = None  # a model (alias, hub id or path) that grades tasks with `metadata.judge`
    judge_endpoint: str | None = None  # an OpenAI-compatible API base URL that serves `judge`, instead of a local model

    def __post_init__(self) -> None:
        check(self.limit is None or self.limit > 0, "limit must be positive")
        check(self.context_budget is None or self.context_budget >= 0, "context budget must be >= 0")
        check(self.batch_size > 0, "batch size must be positive")
        check_answer_turn(self.answer_turn, self.chat_template)
        check(not self.judge_endpoint or bool(self.judge), "a judge endpoint needs --judge MODEL, the model it serves")
        if self.judge_endpoint:  # one spelling, so the run id and the record's endpoint agree
            object.__setattr__(self, "judge_endpoint", self.judge_endpoint.rstrip("/"))


@dataclass
class Shared:
    """Loaded or asked once per invocation, on first need, and used by every run after."""

    base_probe: tuple | None = None  # the base model's forgetting-probe answers
    judge: Judge | None = None


@dataclass
class Plan:
    settings: RunSettings
    manager: Any
    tasks: list[TaskSpec]
    memories: list[Memory]
    corpora: dict[str, Corpus] = field(default_factory=dict)
    previous: dict[str, Corpus] = field(default_factory=dict)  # update tasks' books before the change


def plan(settings: RunSettings, tasks: Sequence[str], memories: Sequence[tuple[str, Mapping[str, Any]]]) -> Plan:
    """Validate names, configs and corpora up front, so a mistake costs no time and no files."""
    manager = task_manager(settings.include_paths)
    specs = [task_spec(manager, name) for name in expand_tasks(manager, tasks)]
    built = [make_memory(name, values, settings.seed) for name, values in memories]
    corpora = {spec.name: spec.corpus() for spec in specs}
    previous = {spec.name: old for spec in specs if (old := spec.previous_corpus()) is not None}
    return Plan(settings, manager, specs, built, corpora, previous)


def run_id(
    lm: LoadedModel, spec: TaskSpec, corpus: Corpus, memory: Memory, s: RunSettings, previous: Corpus | None = None
) -> str:
    """The id a run's record is filed under; a run whose record exists is skipped."""
    return RunIdentity(
        model_id=lm.model_id,
        chat_template=s.chat_template,
        answer_turn=s.answer_turn,
        task=spec.name,
        task_version=spec.version,
        corpus_sha256=corpus.sha256,
        previous_corpus_sha256=previous.sha256 if previous is not None else None,
        memory=memory.name,
        config=config_dict(memory.config),
        seed=s.seed,
        limit=s.limit,
        context_budget=s.context_budget,
        judge=s.judge if s.judge and spec.judged else None,
        judge_rubric=identity_rubric(JUDGE_RUBRIC.sha256) if s.judge and spec.judged else None,
        judge_endpoint=s.judge_endpoint if s.judge and spec.judged else None,
    ).run_id()


def execute(p: Plan, command: str | None = None, on_done: Callable[[RunRecord], None] | None = None) -> list[RunRecord]:
    """Run every (task, memory) pair; returns the records, old (skipped) and new."""
    s = p.settings
    lm = load_model(s.model, chat_template=s.chat_template, answer_turn=s.answer_turn)
    records = []
    shared = Shared()
    if s.judge and any(spec.judged for spec in p.tasks):  # a wrong judge name fails before any run
        shared.judge = make_judge(s, lm)
    for spec in p.tasks:
        for memory in p.memories:
            record = run_or_load(lm, p, spec, memory, command or " ".join(sys.argv), shared)
            records.append(record)
            if on_done:
                on_done(record)
    return records


def model_slug(lm: LoadedModel) -> str:
    """The model's folder name under `records/<task>/`."""
    return Path(lm.model_id).name if Path(lm.model_id).is_absolute() else lm.model_id.replace("/", "__")


def run_or_load(lm: LoadedModel, p: Plan, spec: TaskSpec, memory: Memory, command: str, shared: Shared) -> RunRecord:
    """The record of one (task, memory): loaded when it exists (unless forced), else run and
    saved atomically. Every executor goes through here, so ids and the skip rule are one."""
    s = p.settings
    rid = run_id(lm, spec, p.corpora[spec.name], memory, s, p.previous.get(spec.name))
    record_path, samples_path = record_paths(s.out, spec.name, model_slug(lm), rid)
    if record_path.exists() and not s.force:
        log.warning("%s / %s: record exists (%s), skipping; --force reruns it", spec.name, memory.name, record_path)
        return load_record(record_path)
    log.warning("%s / %s: running", spec.name, memory_label(memory))
    record, samples = run_one(lm, p, spec, memory, rid, command, shared)
    save_record(record, samples, record_path, samples_path)
    if (training := memory.training_log()) is not None:
        write_atomic(train_log_path(s.out, spec.name, rid), json.dumps(training, indent=1))
    return record


def run_one(
    lm: LoadedModel, p: Plan, spec: TaskSpec, memory: Memory, rid: str, command: str, shared: Shared
) -> tuple[RunRecord, list[dict]]:
    """Write the memory, let lm-eval read through it, probe retention; the record and its samples."""
    s = p.settings
    how = Reading(s.seed, s.batch_size, s.limit, s.context_budget, bootstrap_iters=1000)
    probe = s.forgetting and memory.traits.installs_adapters
    previous = p.previous.get(spec.name)
    done = evaluate_memory(lm, memory, p.corpora[spec.name], spec.name, p.manager, how, probe, previous)
    results = done.results
    forgot = None
    if done.probe is not None:
        if shared.base_probe is None:
            shared.base_probe = base_probe(lm, p.manager, how)
        forgot = forgetting(shared.base_probe, done.probe)
    corpus = p.corpora[spec.name]
    samples = sample_rows(spec.name, results["samples"][spec.name], done.log)
    metrics = parse_metrics(results["results"][spec.name])
    if precisions := router_precision(samples):  # a router's accuracy, apart from what the modules store
        metrics[ROUTER_METRIC] = Metric(sum(precisions) / len(precisions), stderr_of(precisions))
    judged = judge_run(p, samples, metrics, shared) if s.judge and spec.judged else None
    record = RunRecord(
        run=RunInfo(
            rid,
            dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            *git_state(),
            command,
            s.seed,
            package_version("kmbench") or "dev",
            s.batch_size,
        ),
        model=ModelInfo(
            lm.name,
            lm.model_id,
            lm.n_params,
            str(lm.model.dtype).removeprefix("torch."),
            str(lm.device),
            lm.chat_template,
            lm.answer_turn,
        ),
        memory=MemoryInfo(memory.name, memory_label(memory), config_dict(memory.config)),
        task=TaskInfo(
            spec.name,
            spec.version,
            corpus.sha256,
            len(corpus.documents),
            sum(count_tokens(lm.tokenizer, d.contents) for d in corpus.documents),
            len(samples),
            spec.primary_metric,
            s.limit,
            previous.sha256 if previous is not None else None,
        ),
        metrics=metrics,
        cost=measure_cost(memory, lm, done, samples),
        env=environment(),
        forgetting=forgot,
        judge=judged,
    )
    return record, samples


def make_judge(s: RunSettings, lm: LoadedModel, load: Callable[[str], LoadedModel] = load_model) -> Judge:
    """The endpoint when one is named, else a local model (the model under test itself when named;
    another is got from `load`: a sweep worker passes its cache of loaded models)."""
    if s.judge_endpoint:
        return Endpoint(s.judge_endpoint, str(s.judge), json_mode=JUDGE_RUBRIC.structured)
    return LocalJudge(lm if s.judge == s.model else load(str(s.judge)), s.batch_size)


def judge_run(p: Plan, samples: list[dict], metrics: dict[str, Metric], shared: Shared) -> JudgeInfo:
    """Grade every answer with the judge (made once, up front). A malformed verdict is not scored:
    `judge` is the mean over the valid ones and `judge_malformed` the share of the others."""
    judge = shared.judge
    malformed = judge_samples(judge, samples, JUDGE_RUBRIC)
    for name in JUDGE_METRICS:
        values = [s["metrics"][name] for s in samples if name in s["metrics"]]
        if values:
            metrics[name] = Metric(sum(values) / len(values), stderr_of(values))
    if malformed:
        log.warning("judge %s: %d of %d outputs malformed, left unscored", judge.name, malformed, len(samples))
    endpoint = judge.url if isinstance(judge, Endpoint) else None
    return JudgeInfo(judge.name, judge.model_id, JUDGE_RUBRIC.sha256, malformed, JUDGE_RUBRIC.scale, endpoint)


def parse_metrics(task_results: Mapping[str, Any]) -> dict[str, Metric]:
    """lm-eval's `name,filter` keys -> {label: Metric(value, stderr)} (labels: `bench.core.metrics`)."""
    return {label: Metric(value, stderr) for label, (value, stderr) in parse_results(task_results).items()}


def sample_rows(task: str, samples: list[dict[str, Any]], read: ReadLog) -> list[dict[str, Any]]:
    """lm-eval's sample log plus what each answer cost and where it was routed, matched by the
    question's task and doc_id; the validator recomputes metrics from these rows."""
    rows = []
    for sample in samples:
        prompt = sample["arguments"][0][0]
        asked = read.asked[(task, int(sample["doc_id"]))]
        answer = asked.answer
        metrics = {name: sample[name] for name in sample["metrics"]}
        filtered = sample["filtered_resps"]
        rows.append(
            {
                "doc_id": sample["doc_id"],
                "doc": sample["doc"],
                "prompt": prompt,
                "target": sample["target"],
                # generated text, or the score of each choice for loglikelihood tasks
                "response": first
                if isinstance(first := sample["resps"][0][0], str)
                else [r[0] for r in sample["resps"]],
                # what process_results scores: the text, or every choice's (logprob, greedy)
                "filtered_response": filtered[0] if isinstance(filtered[0], str) else filtered,
                "metrics": metrics,
                "context_tokens": answer.context_tokens,
                "prompt_tokens": answer.prompt_tokens,
                "seconds": answer.seconds,
                "dropped": answer.dropped,
                **({"routing": routing_row(asked.routing)} if asked.routing is not None else {}),
            }
        )
    return rows


def routing_row(routing: Routing) -> dict[str, Any]:
    return {"chosen": list(routing.chosen), "gold": routing.gold}


def measure_cost(memory: Memory, lm: LoadedModel, done: Evaluation, samples: list[dict]) -> Cost:
    """Write costs are the first version's on an update task (a full rebuild of a book the same
    size costs about as much), with the update's own cost beside them."""
    fp = done.written or memory.footprint()
    read, write, reading = done.log, done.write_cost, done.read_cost
    n = max(1, len(samples))
    answer_tokens = sum(count_tokens(lm.tokenizer, r["response"]) for r in samples if isinstance(r["response"], str))
    prompt_tokens = sum(row["prompt_tokens"] for row in samples)
    return Cost(
        write_seconds=fp.write_seconds if fp.write_seconds is not None else write.seconds,
        write_cached=fp.cached,
        write_tokens=fp.write_tokens,
        write_flops=fp.write_flops,
        write_peak_mb=fp.write_peak_mb if fp.write_peak_mb is not None else write.megabytes,
        trainable_params=fp.trainable_params,
        storage_bytes=fp.storage_bytes,
        index_vectors=fp.index_vectors,
        read_seconds=reading.seconds,
        seconds_per_query=read.seconds_per_question(),
        prompt_tokens_per_query=prompt_tokens / n,
        context_tokens_per_query=sum(r["context_tokens"] for r in samples) / n,
        context_budget=min(read.budgets) if read.budgets else 0,
        truncated_fraction=sum(r["dropped"] > 0 for r in samples) / n,
        read_flops=2.0 * lm.n_params * (prompt_tokens + answer_tokens),
        read_peak_mb=reading.megabytes,
        prefix_seconds=sum(p.seconds for p in read.prefixes),
        prefix_tokens=sum(p.tokens for p in read.prefixes),
        prefix_cache_bytes=max((p.cache_bytes for p in read.prefixes), default=0),
        **(update_cost(done.update) if done.update is not None else {}),
    )


def update_cost(update: Update) -> dict[str, Any]:
    return {
        "update_seconds": update.seconds,
        "update_tokens": update.footprint.write_tokens,
        "update_flops": update.footprint.write_flops,
    }
