"""Check a leaderboard submission without running any of its code.

Everything is read as data (JSON, YAML via safe_load); scores are recomputed with this
kmbench's own task code from the per-sample logs, against this kmbench's own task data.
Each problem is one line, `<file>: <what is wrong>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.answer.lm import gold_doc
from bench.board.files import CAPS, folder_problems
from bench.board.plausible import cost_problems
from bench.board.submission import SUBMISSION_FILE, submission_records
from bench.core.errors import UserError
from bench.core.paths import PROJECT_ROOT
from bench.harness.judging import METRIC as JUDGE_METRIC
from bench.harness.judging import RUBRIC_SHA256, parse_score
from bench.harness.scoring import stderr_of
from bench.parts.routing import ROUTER_METRIC, router_precision
from bench.run.identity import RunIdentity
from bench.run.memories import make_memory, memory_label, traits_of
from bench.run.record import RunRecord, migrate, read_samples, samples_path_for
from bench.run.retention import PROBE_TASK, forgetting

ROUNDING = 1e-6
FIRST_SCHEMA_WITH_RETENTION = 2  # older records predate the probe: migrated without it, as they ran


@dataclass
class TaskFacts:
    """This kmbench's view of a task, computed once per validation."""

    version: str
    corpus_sha256: str
    docs: list[dict[str, Any]]
    process_results: Any
    primary_metric: str
    corpus: Any = None  # the task's Corpus, for re-deriving oracle routing


@dataclass
class Validation:
    folder: Path
    problems: list[str] = field(default_factory=list)
    tasks: dict[str, TaskFacts | None] = field(default_factory=dict)
    accepted: dict[tuple, str] = field(default_factory=dict)  # runs of submissions accepted before
    seen: dict[tuple, str] = field(default_factory=dict)  # runs of this submission
    manager: Any = None
    commits: dict[str, bool] = field(default_factory=dict)  # sha -> in this project's history
    tokenizers: dict[str, Any] = field(default_factory=dict)  # model name -> tokenizer, for token splits

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
        corpus = spec.corpus() if spec.corpus_path else None
        sha = corpus.sha256 if corpus else ""
        v.tasks[name] = TaskFacts(spec.version, sha, docs, config.get("process_results"), spec.primary_metric, corpus)
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


def load_checked_record(v: Validation, path: Path) -> tuple[RunRecord, int] | None:
    """The record and the schema version it was written with (before migration)."""
    import jsonschema

    from bench.board.schema import record_schema

    try:
        raw = json.loads(path.read_text())
        written = raw.get("schema_version") if isinstance(raw, dict) else None
        data = migrate(raw if isinstance(raw, dict) else {})
    except json.JSONDecodeError as exc:
        v.fail(path, f"not JSON ({exc.msg})")
        return None
    except UserError as exc:
        v.fail(path, str(exc))
        return None
    errors = list(jsonschema.Draft202012Validator(record_schema()).iter_errors(data))
    for error in errors:
        v.fail(path, f"{error.json_path}: {error.message}")
    return None if errors else (RunRecord.from_dict(data), int(written))


def in_history(v: Validation, sha: str) -> bool:
    """Whether `sha` is a commit of this project's history (an ancestor of the checked-out HEAD)."""
    import subprocess

    if sha not in v.commits:
        git = ["git", "-C", str(PROJECT_ROOT)]
        found = subprocess.run([*git, "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True).returncode == 0
        ancestor = subprocess.run([*git, "merge-base", "--is-ancestor", sha, "HEAD"], capture_output=True)
        v.commits[sha] = found and ancestor.returncode == 0
    return v.commits[sha]


def check_provenance(v: Validation, path: Path, r: RunRecord, sub: dict[str, Any] | None) -> None:
    if not r.run.git_sha or r.run.git_dirty is not False:
        v.fail(path, "not produced from a clean kmbench commit (git_sha missing or git_dirty)")
    elif not in_history(v, r.run.git_sha):
        v.fail(path, f"kmbench commit {r.run.git_sha} is not in this project's history")
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
    if r.task.primary_metric != facts.primary_metric:
        v.fail(path, f"primary metric {r.task.primary_metric!r}: the task ranks by {facts.primary_metric!r}")
    return facts


def stated_budget(r: RunRecord) -> int | str | None:
    """The context budget the run was asked for, as its run id says: None (the window), the
    budget it reports, or "unknown" when neither gives its id."""
    for budget in (None, r.cost.context_budget):
        if identity(r, budget).run_id() == r.run.run_id:
            return budget
    return "unknown"


def identity(r: RunRecord, budget: int | None) -> RunIdentity:
    return RunIdentity(
        model_id=r.model.model_id,
        chat_template=r.model.chat_template,
        task=r.task.name,
        task_version=r.task.version,
        corpus_sha256=r.task.corpus_sha256,
        memory=r.memory.name,
        config=r.memory.config,
        seed=r.run.seed,
        limit=r.task.limit,
        context_budget=budget,
        judge=r.judge.model if r.judge else None,
    )


def check_identity(v: Validation, path: Path, r: RunRecord) -> Any:
    """The run id and label follow from the record's own fields; returns the memory rebuilt
    from its config (None when the config does not build)."""
    if stated_budget(r) == "unknown":
        v.fail(path, f"run id {r.run.run_id} is not the hash of this record's model, task, memory config and seed")
    try:
        memory = make_memory(r.memory.name, r.memory.config, r.run.seed)
    except (UserError, ValueError, TypeError) as exc:
        v.fail(path, f"memory config does not build: {exc}")
        return None
    if memory_label(memory) != r.memory.label:
        v.fail(path, f"memory label {r.memory.label!r}: its config gives {memory_label(memory)!r}")
    return memory


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


def check_judge(v: Validation, path: Path, r: RunRecord, samples: list) -> None:
    if r.judge is None:
        return
    if r.judge.rubric_sha256 != RUBRIC_SHA256:
        v.fail(path, "judged with another rubric than this kmbench's (rubric hash differs)")
    if any(not isinstance(s.get("judge_output"), str) for s in samples):
        v.fail(path, "a judged sample has no judge output to re-parse")


def check_forgetting(v: Validation, path: Path, r: RunRecord, written: int) -> None:
    """Retention is required where adapters are installed, on the pinned probe; both sides of
    the probe are re-scored with the probe task's own scoring."""
    f = r.forgetting
    if f is None:
        if written >= FIRST_SCHEMA_WITH_RETENTION and traits_of(r.memory.name, r.memory.config).installs_adapters:
            v.fail(path, f"no retention: a memory that installs adapters must carry the {PROBE_TASK} probe")
        return
    if f.task != PROBE_TASK:
        v.fail(path, f"retention measured on {f.task!r}; the probe is {PROBE_TASK!r}")
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


def check_duplicates(v: Validation, path: Path, r: RunRecord) -> None:
    judge = r.judge.model if r.judge else None  # a judged run may sit beside the same run unjudged
    for key in (("run_id", r.run.run_id), ("run", r.task.name, r.model.name, r.memory.label, r.run.seed, judge)):
        earlier = v.seen.get(key) or v.accepted.get(key)
        if earlier:
            v.fail(path, f"duplicates {earlier}")
        v.seen.setdefault(key, str(path))


def check_seeds(v: Validation, records: list[tuple[Path, RunRecord]]) -> None:
    """Seeds run from 0 without gaps for each row, so no one keeps the best of N seeds."""
    seeds: dict[tuple, list[int]] = {}
    for _, r in records:
        key = (r.task.name, r.model.name, r.memory.label, r.judge.model if r.judge else None)
        seeds.setdefault(key, []).append(r.run.seed)
    for (task, _, label, _), found in seeds.items():
        if sorted(found) != list(range(len(found))):
            v.fail(v.folder, f"{task} / {label}: seeds {sorted(found)}; submit seeds 0..k-1, every one run")


def check_record(v: Validation, path: Path, sub: dict[str, Any] | None) -> RunRecord | None:
    loaded = load_checked_record(v, path)
    if loaded is None:
        return None
    record, written = loaded
    check_provenance(v, path, record, sub)
    check_duplicates(v, path, record)
    memory = check_identity(v, path, record)
    facts = check_task(v, path, record)
    samples = check_samples(v, path, record, facts) if facts is not None else None
    if facts is not None and samples is not None:
        check_routing(v, path, record, memory, facts, samples)
        check_judge(v, path, record, samples)
    traits = memory.traits if memory is not None else traits_of(record.memory.name)
    for problem in cost_problems(record, traits, samples):
        v.fail(path, problem)
    check_forgetting(v, path, record, written)
    return record


def validate_submission(folder: Path, accepted: dict[tuple, str] | None = None) -> list[str]:
    """Every problem with one submission folder; an empty list means it is accepted.

    `accepted` holds the runs of submissions already accepted (to refuse duplicates across
    folders); an accepted submission adds its own runs to it. Nothing in the folder can stop
    the validation of another: an unexpected error becomes this submission's problem.
    """
    v = Validation(folder, accepted=accepted if accepted is not None else {})
    if problems := folder_problems(folder):
        return problems
    sub = check_submission_file(v)
    paths = submission_records(folder)
    if not paths:
        v.fail(folder, "no records under records/")
    records = []
    for path in paths:
        try:
            record = check_record(v, path, sub)
        except Exception as exc:  # a malformed file must cost this submission only
            v.fail(path, f"cannot be validated: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            record = None
        if record is not None:
            records.append((path, record))
    check_seeds(v, records)
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
