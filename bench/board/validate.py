"""Check a leaderboard submission without running any of its code.

Everything is read as data (JSON, YAML via safe_load); scores are recomputed with this
kmbench's own task code from the per-sample logs, against this kmbench's own task data.
Each problem is one line, `<file>: <what is wrong>`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.board.submission import SUBMISSION_FILE, submission_records
from bench.core.errors import UserError
from bench.harness.judging import METRIC as JUDGE_METRIC
from bench.harness.judging import parse_score
from bench.harness.scoring import stderr_of
from bench.parts.routing import ROUTER_METRIC, router_precision
from bench.run.memories import traits_of
from bench.run.record import RunRecord, migrate, read_samples, samples_path_for
from bench.run.retention import forgetting

ROUNDING = 1e-6
MAX_SECONDS = 30 * 24 * 3600.0


@dataclass
class TaskFacts:
    """This kmbench's view of a task, computed once per validation."""

    version: str
    corpus_sha256: str
    docs: list[dict[str, Any]]
    process_results: Any


@dataclass
class Validation:
    folder: Path
    problems: list[str] = field(default_factory=list)
    tasks: dict[str, TaskFacts | None] = field(default_factory=dict)
    accepted: dict[tuple, str] = field(default_factory=dict)  # runs of submissions accepted before
    seen: dict[tuple, str] = field(default_factory=dict)  # runs of this submission
    manager: Any = None

    def fail(self, path: Path, what: str) -> None:
        self.problems.append(f"{path}: {what}")


def task_facts(v: Validation, name: str) -> TaskFacts | None:
    if name not in v.tasks:
        from lm_eval.tasks import get_task_dict
        from lm_eval.tasks._yaml_loader import load_yaml

        from bench.harness.taskspec import task_manager, task_spec

        v.manager = v.manager or task_manager()
        if name not in v.manager.task_index:
            v.tasks[name] = None
            return None
        spec = task_spec(v.manager, name)
        task = get_task_dict([name], v.manager)[name]
        config = load_yaml(spec.yaml_path, resolve_func=True)
        docs = [dict(d) for d in task.test_docs()]
        corpus_sha256 = spec.corpus().sha256 if spec.corpus_path else ""
        v.tasks[name] = TaskFacts(spec.version, corpus_sha256, docs, config.get("process_results"))
    return v.tasks[name]


def check_submission_file(v: Validation) -> dict[str, Any] | None:
    import jsonschema
    import yaml

    from bench.board.schema import submission_schema

    path = v.folder / SUBMISSION_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except OSError:
        v.fail(path, "missing")
        return None
    except yaml.YAMLError as exc:
        v.fail(path, f"not YAML ({str(exc).splitlines()[0]})")
        return None
    errors = list(jsonschema.Draft202012Validator(submission_schema()).iter_errors(data))
    for error in errors:
        v.fail(path, f"{error.json_path}: {error.message}")
    if errors:
        return None
    if data["id"] != v.folder.name:
        v.fail(path, f"id {data['id']!r} differs from the folder name {v.folder.name!r}")
    return data


def load_checked_record(v: Validation, path: Path) -> RunRecord | None:
    import jsonschema

    from bench.board.schema import record_schema

    try:
        data = migrate(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        v.fail(path, f"not JSON ({exc.msg})")
        return None
    except UserError as exc:
        v.fail(path, str(exc))
        return None
    errors = list(jsonschema.Draft202012Validator(record_schema()).iter_errors(data))
    for error in errors:
        v.fail(path, f"{error.json_path}: {error.message}")
    return None if errors else RunRecord.from_dict(data)


def check_provenance(v: Validation, path: Path, r: RunRecord, sub: dict[str, Any] | None) -> None:
    if not r.run.git_sha or r.run.git_dirty is not False:
        v.fail(path, "not produced from a clean kmbench commit (git_sha missing or git_dirty)")
    if sub is None:
        return
    expected = {
        "kmbench commit": (r.run.git_sha, sub["kmbench_commit"]),
        "model": (r.model.name, sub["model"]),
    }
    for what, (have, want) in expected.items():
        if have != want:
            v.fail(path, f"{what} {have!r} differs from submission.yaml's {want!r}")
    if r.memory.label not in sub["memories"]:
        v.fail(path, f"memory {r.memory.label!r} is not listed in submission.yaml")
    if r.task.name not in sub["tasks"]:
        v.fail(path, f"task {r.task.name!r} is not listed in submission.yaml")


def check_task(v: Validation, path: Path, r: RunRecord) -> TaskFacts | None:
    facts = task_facts(v, r.task.name)
    if facts is None:
        v.fail(path, f"task {r.task.name!r} is not a task of this kmbench")
        return None
    if r.task.version != facts.version:
        v.fail(path, f"task version {r.task.version} differs from this kmbench's {facts.version}")
    if r.task.corpus_sha256 != facts.corpus_sha256:
        v.fail(path, "the knowledge corpus hash differs from this kmbench's task data")
    return facts


def rescore(facts: TaskFacts, sample: dict[str, Any]) -> dict[str, float]:
    response = sample["filtered_response"]
    results = [response] if isinstance(response, str) else response  # generated text, or each choice's score
    return {k: float(v) for k, v in facts.process_results(sample["doc"], results).items()}


def check_samples(v: Validation, path: Path, r: RunRecord, facts: TaskFacts) -> None:
    samples_path = samples_path_for(path)
    if samples_path is None:
        v.fail(path, "per-sample log (.samples.jsonl or .samples.jsonl.gz) is missing")
        return
    try:
        samples = read_samples(samples_path)
    except (OSError, EOFError, json.JSONDecodeError) as exc:
        v.fail(samples_path, f"unreadable ({exc})")
        return
    expected = min(len(facts.docs), r.task.limit or len(facts.docs))
    doc_ids = [s.get("doc_id") for s in samples]
    if len(samples) != expected or r.task.n_queries != expected or sorted(doc_ids) != list(range(expected)):
        v.fail(samples_path, f"{len(samples)} samples for {expected} questions; every question needs one sample")
        return
    if any(s.get("doc") != facts.docs[s["doc_id"]] for s in samples):
        v.fail(samples_path, "sample questions or answers differ from the task's data")
        return
    for key in ("context_tokens", "prompt_tokens"):
        mean = sum(s.get(key, 0) for s in samples) / len(samples)
        if abs(mean - getattr(r.cost, f"{key}_per_query")) > 0.01:
            v.fail(path, f"cost.{key}_per_query disagrees with the samples' mean {mean:.2f}")
    logged = [dict(s.get("metrics") or {}) for s in samples]
    judged = [m.pop(JUDGE_METRIC, None) for m in logged]
    if facts.process_results is not None:
        rescored = [rescore(facts, s) for s in samples]
        if any(have != want for have, want in zip(logged, rescored, strict=True)):
            v.fail(samples_path, "logged per-sample scores differ from re-scoring the responses")
    else:  # lm-eval's built-in metrics (e.g. acc): the aggregate is checked against the logged samples
        rescored = logged
    if r.judge is not None:  # the judge's score re-parsed from what it said
        for s, m in zip(samples, rescored, strict=True):
            m[JUDGE_METRIC] = (parse_score(s.get("judge_output", "")) or 0.0) / 10
        if any(score != m[JUDGE_METRIC] for score, m in zip(judged, rescored, strict=True)):
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
        if metric.stderr is not None and abs(stderr_of(values) - metric.stderr) > ROUNDING:
            v.fail(path, f"{name} stderr is {metric.stderr} but the samples give {stderr_of(values):.6f}")


def check_forgetting(v: Validation, path: Path, r: RunRecord) -> None:
    """Re-score both sides of the forgetting probe with the probe task's own scoring."""
    f = r.forgetting
    if f is None:
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


def check_costs(v: Validation, path: Path, r: RunRecord) -> None:
    c = r.cost
    numbers = {k: x for k, x in vars(c).items() if isinstance(x, (int, float)) and not isinstance(x, bool)}
    for key, value in numbers.items():
        if not math.isfinite(value) or value < 0:
            v.fail(path, f"cost.{key} = {value} is not a finite, non-negative number")
    rules = [
        (c.write_seconds <= MAX_SECONDS and c.read_seconds <= MAX_SECONDS, "seconds beyond 30 days"),
        (c.seconds_per_query > 0, "seconds_per_query must be positive"),
        (c.truncated_fraction <= 1, "truncated_fraction above 1"),
        (c.context_budget == 0 or c.context_tokens_per_query <= c.context_budget, "context beyond the budget"),
        (c.prompt_tokens_per_query >= c.context_tokens_per_query, "fewer prompt tokens than context tokens"),
        (c.trainable_params <= r.model.n_params, "more trainable parameters than the model has"),
        (
            traits_of(r.memory.name, r.memory.config).trains_parameters == (c.trainable_params > 0),
            "trainable_params > 0 exactly for memories that train parameters",
        ),
        (all(0 <= m.value <= 1 for m in r.metrics.values()), "metric values outside [0, 1]"),
    ]
    for ok, what in rules:
        if not ok:
            v.fail(path, f"implausible cost or score: {what}")


def check_duplicates(v: Validation, path: Path, r: RunRecord) -> None:
    judge = r.judge.model if r.judge else None  # a judged run may sit beside the same run unjudged
    for key in (("run_id", r.run.run_id), ("run", r.task.name, r.model.name, r.memory.label, r.run.seed, judge)):
        earlier = v.seen.get(key) or v.accepted.get(key)
        if earlier:
            v.fail(path, f"duplicates {earlier}")
        v.seen.setdefault(key, str(path))


def validate_submission(folder: Path, accepted: dict[tuple, str] | None = None) -> list[str]:
    """Every problem with one submission folder; an empty list means it is accepted.

    `accepted` holds the runs of submissions already accepted (to refuse duplicates across
    folders); an accepted submission adds its own runs to it.
    """
    v = Validation(folder, accepted=accepted if accepted is not None else {})
    sub = check_submission_file(v)
    records = submission_records(folder)
    if not records:
        v.fail(folder, "no records under records/")
    for path in records:
        record = load_checked_record(v, path)
        if record is None:
            continue
        check_provenance(v, path, record, sub)
        check_duplicates(v, path, record)
        check_costs(v, path, record)
        facts = check_task(v, path, record)
        if facts is not None:
            check_samples(v, path, record, facts)
        check_forgetting(v, path, record)
    if not v.problems:
        v.accepted.update(v.seen)
    return v.problems


def submission_folders(path: Path) -> list[Path]:
    """A submission folder, or a folder of them (e.g. leaderboard/submissions)."""
    if (path / SUBMISSION_FILE).is_file() or (path / "records").is_dir():
        return [path]
    if not path.is_dir():
        raise UserError(f"{path} is not a folder")
    return sorted(p for p in path.iterdir() if p.is_dir())
