"""Scores re-derived from the per-sample logs with this kmbench's own task code and data:
each answer re-scored, oracle routing re-derived from the task, judge outputs re-parsed, and
both sides of the retention probe re-scored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.answer.lm import gold_doc
from bench.board.files import CAPS
from bench.board.state import TaskFacts, Validation, task_facts
from bench.core.memory import Traits
from bench.harness.judging import METRICS as JUDGE_METRICS
from bench.harness.judging import rubric_by_hash
from bench.harness.roles import task_roles
from bench.harness.scoring import stderr_of
from bench.parts.routing import ROUTER_METRIC, router_precision
from bench.run.record import RunRecord, read_samples, samples_path_for
from bench.run.retention import forgetting

ROUNDING = 1e-6
FIRST_SCHEMA_WITH_RETENTION = 2  # older records predate the probe: migrated without it, as they ran
# The commit that made kmbench write schema v2: a record made from it or later claiming an older
# version would drop its retention probe by the migration.
SCHEMA_V2_COMMIT = "f5045efd171fd3567d08621d21264d861a88c43e"


def rescore(facts: TaskFacts, sample: dict[str, Any]) -> dict[str, float]:
    response = sample["filtered_response"]
    results = [response] if isinstance(response, str) else response  # generated text, or each choice's score
    return {k: float(v) for k, v in facts.process_results(sample["doc"], results).items()}


def check_samples(v: Validation, path: Path, r: RunRecord, facts: TaskFacts) -> list[dict[str, Any]] | None:
    """Re-score every logged answer; returns the samples when they cover the questions."""
    samples_path = samples_path_for(path)
    if samples_path is None:
        v.fail(path, "per-sample log (.samples.jsonl or .samples.jsonl.gz) is missing")
        return None
    try:
        samples = read_samples(samples_path, max_bytes=CAPS.max_decompressed_bytes)
    except (OSError, EOFError, ValueError) as exc:
        v.fail(samples_path, f"unreadable ({exc})")
        return None
    expected = min(len(facts.docs), r.task.limit or len(facts.docs))
    doc_ids = [s.get("doc_id") for s in samples]
    if len(samples) != expected or r.task.n_queries != expected or sorted(doc_ids) != list(range(expected)):
        v.fail(samples_path, f"{len(samples)} samples for {expected} questions; every question needs one sample")
        return None
    if any(s.get("doc") != facts.docs[s["doc_id"]] for s in samples):
        v.fail(samples_path, "sample questions or answers differ from the task's data")
        return None
    for key in ("context_tokens", "prompt_tokens"):
        mean = sum(s.get(key, 0) for s in samples) / len(samples)
        if abs(mean - getattr(r.cost, f"{key}_per_query")) > 0.01:
            v.fail(path, f"cost.{key}_per_query disagrees with the samples' mean {mean:.2f}")
    logged = [dict(s.get("metrics") or {}) for s in samples]
    judged = [{k: m.pop(k) for k in JUDGE_METRICS if k in m} for m in logged]
    if facts.process_results is not None:
        rescored = [rescore(facts, s) for s in samples]
        if any(have != want for have, want in zip(logged, rescored, strict=True)):
            v.fail(samples_path, "logged per-sample scores differ from re-scoring the responses")
    else:  # lm-eval's built-in metrics (e.g. acc): the aggregate is checked against the logged samples
        rescored = logged
    rubric = rubric_by_hash(r.judge.rubric_sha256) if r.judge is not None else None
    if rubric is not None:  # the judge's verdict re-parsed from what it said, with the record's own rubric
        for s, m in zip(samples, rescored, strict=True):
            m.update(rubric.sample_metrics(str(s.get("judge_output", ""))))
        if any(have != {k: m[k] for k in JUDGE_METRICS if k in m} for have, m in zip(judged, rescored, strict=True)):
            v.fail(samples_path, "logged judge scores differ from re-parsing the judge's outputs")
    for s, m in zip(samples, rescored, strict=True):  # a router's precision@k from the routing it logged
        if (precision := router_precision([s])) and ROUTER_METRIC not in m:
            m[ROUTER_METRIC] = precision[0]
    for name, metric in r.metrics.items():
        values = [float(m[name]) for m in rescored if name in m]  # a per-level score covers its level only
        if not values:
            v.fail(path, f"{name}: no sample yields this metric")
            continue
        if abs(sum(values) / len(values) - metric.value) > ROUNDING:
            v.fail(path, f"{name} is {metric.value} but the samples score {sum(values) / len(values):.6f}")
        if metric.stderr is None and len(values) > 1:  # lm-eval leaves it out for one sample only
            v.fail(path, f"{name}: no stderr, but {len(values)} samples give one")
        if metric.stderr is not None and abs(stderr_of(values) - metric.stderr) > ROUNDING:
            v.fail(path, f"{name} stderr is {metric.stderr} but the samples give {stderr_of(values):.6f}")
    return samples


def check_routing(v: Validation, path: Path, r: RunRecord, memory: Any, facts: TaskFacts, samples: list) -> None:
    """Every logged oracle gold is re-derived from the task's data and the memory's own split."""
    routed = [s for s in samples if s.get("routing")]
    if not routed:
        return
    if memory is None or facts.corpus is None:
        v.fail(path, "routing is logged but the memory's modules cannot be re-derived")
        return
    module_of = memory.module_of(facts.corpus, lambda text: token_count(v, r.model.name, text))
    wrong = [s["doc_id"] for s in routed if s["routing"].get("gold") != module_of.get(gold_doc(s["doc"]) or "")]
    if wrong:
        v.fail(path, f"logged oracle gold differs from the task data for {len(wrong)} question(s), e.g. {wrong[0]}")


def token_count(v: Validation, model: str, text: str) -> int:
    """Tokens of `text` for the model a record names (for corpora split by tokens)."""
    if model not in v.tokenizers:
        from transformers import AutoTokenizer

        from bench.model.loading import resolve_source

        v.tokenizers[model] = AutoTokenizer.from_pretrained(resolve_source(model))
    return len(v.tokenizers[model](text, add_special_tokens=False).input_ids)


def check_judge(v: Validation, path: Path, r: RunRecord, samples: list, facts: TaskFacts) -> None:
    """Only a task with a judge has judged records (the judge is part of a row's identity, so a
    free-text judge on another task would make copies of one run); the rubric is one this kmbench
    knows (the current one, or the legacy one by its hash), its scale is the record's, and the
    malformed count is what re-parsing the outputs gives."""
    if r.judge is None:
        return
    if not facts.judged:
        v.fail(path, f"task {r.task.name!r} has no judge, yet the record names one ({r.judge.model!r})")
        return
    rubric = rubric_by_hash(r.judge.rubric_sha256)
    if rubric is None:
        v.fail(path, "judged with a rubric this kmbench does not know (rubric hash differs)")
        return
    if r.judge.scale != rubric.scale:
        v.fail(path, f"judge scale 0-{r.judge.scale} differs from its rubric's 0-{rubric.scale}")
    outputs = [s.get("judge_output") for s in samples]
    if any(not isinstance(o, str) for o in outputs):
        v.fail(path, "a judged sample has no judge output to re-parse")
        return
    malformed = sum(rubric.parse(o) is None for o in outputs)
    if malformed != r.judge.unparseable:
        v.fail(path, f"judge: {r.judge.unparseable} malformed outputs claimed, re-parsing finds {malformed}")


def check_forgetting(v: Validation, path: Path, r: RunRecord, written: int, traits: Traits) -> None:
    """Retention is required where adapters are installed, on the pinned probe; both sides of
    the probe are re-scored with the probe task's own scoring."""
    f, probe = r.forgetting, task_roles().probe_task
    if f is None:
        if written >= FIRST_SCHEMA_WITH_RETENTION and traits.installs_adapters:
            v.fail(path, f"no retention: a memory that installs adapters must carry the {probe} probe")
        return
    if f.task != probe:
        v.fail(path, f"retention measured on {f.task!r}; the probe is {probe!r}")
        return
    facts = task_facts(v, f.task)
    if facts is None or facts.version != f.version:
        v.fail(path, f"forgetting probe {f.task!r} v{f.version} is not this kmbench's")
        return
    if not (len(f.base_answers) == len(f.memory_answers) == len(facts.docs)):
        v.fail(path, f"forgetting: {len(f.memory_answers)} answers for {len(facts.docs)} probe questions")
        return

    def exact(answers: list[str]) -> list[float]:
        pairs = zip(facts.docs, answers, strict=True)
        return [rescore(facts, {"doc": doc, "filtered_response": a})["exact_match"] for doc, a in pairs]

    want = forgetting(
        (f.base_answers, exact(f.base_answers), f.version), (f.memory_answers, exact(f.memory_answers), f.version)
    )
    stated = None if f.retention is None else round(f.retention, 9)
    wanted = None if want.retention is None else round(want.retention, 9)
    if (f.base_correct, f.retained, stated) != (want.base_correct, want.retained, wanted):
        v.fail(
            path,
            f"forgetting says {f.retained}/{f.base_correct} retained; "
            f"its answers give {want.retained}/{want.base_correct}",
        )
