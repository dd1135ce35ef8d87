"""Check a leaderboard submission without running any of its code.

Everything is read as data (JSON, YAML via safe_load), after the folder's files pass their
caps (`files`). Each record's identity is recomputed from its own fields (run id, label,
primary metric, commit in this project's history, seeds 0..k-1); its scores are re-derived
from the per-sample logs with this kmbench's task code and data (`rescore`); its costs are
held against what it implies (`plausible`); with `--reproduce` its answers are rerun
(`reproduce`). Each problem is one line, `<file>: <what is wrong>`.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

from bench.board.files import folder_problems
from bench.board.plausible import PLAUSIBLE_PEAK, cost_problems
from bench.board.reproduce import Reproducer, Reproduction
from bench.board.rescore import SCHEMA_V2_COMMIT, check_forgetting, check_judge, check_routing, check_samples
from bench.board.state import TaskFacts, Validation, task_facts
from bench.board.submission import ID_PATTERN, SUBMISSION_FILE, submission_records
from bench.core.errors import UserError
from bench.core.git import git
from bench.harness.judging import identity_rubric
from bench.harness.roles import task_roles
from bench.model.loading import ALIASES, check_answer_turn
from bench.run.identity import RunIdentity
from bench.run.memories import make_memory, memory_label, traits_of
from bench.run.record import SCHEMA_VERSION, RunRecord, migrate


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
    elif not ID_PATTERN.fullmatch(data["id"]):  # ASCII only: no homoglyph of another submission's id
        v.fail(path, f"id {data['id']!r} is not lowercase letters, digits, '.', '_' or '-' (3-64 characters)")
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
    return descends_from(v, sha, "HEAD")


def descends_from(v: Validation, ancestor: str, sha: str) -> bool:
    """Whether commit `sha` is `ancestor` or comes after it in this project's history (both must
    be commits here); asked of git once per pair."""
    key = f"{ancestor}..{sha}"
    if key not in v.commits:
        found = git("cat-file", "-e", f"{ancestor}^{{commit}}").returncode == 0
        v.commits[key] = found and git("merge-base", "--is-ancestor", ancestor, sha).returncode == 0
    return v.commits[key]


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


FULL_SHA = re.compile(r"[0-9a-f]{40}")
# A model as a user names it (an alias, a hub id, a folder): printable ASCII without spaces, so a
# homoglyph or a zero-width character cannot make a second row of the same model.
MODEL_NAME = re.compile(r"[!-~]{1,255}")


def check_fields(v: Validation, path: Path, r: RunRecord) -> None:
    """What the schema's types cannot say: a full commit id, a model name that is one name, the
    run's seed in its config (a row retrained at another seed is another seed), the primary
    metric present, every score and error bar a finite number, a known kind of device, an
    offline alias's own parameter count (a hub model's is checked when it is reproduced), and a
    turn answers can be read in."""
    if r.run.git_sha and not FULL_SHA.fullmatch(r.run.git_sha):
        v.fail(path, f"kmbench commit {r.run.git_sha!r} is not a full 40-hex commit id")
    name = r.model.name
    if unicodedata.normalize("NFKC", name) != name or not MODEL_NAME.fullmatch(name):
        v.fail(path, f"model name {name!r} is not a plain ASCII name (printable, no spaces)")
    seed = r.memory.config.get("seed")
    if seed is not None and seed != r.run.seed:
        v.fail(path, f"memory config seed {seed!r} differs from the run's seed {r.run.seed}: a row's seed is its run's")
    if r.task.primary_metric not in r.metrics:
        v.fail(path, f"the primary metric {r.task.primary_metric!r} is missing")
    for key, metric in r.metrics.items():  # a missing stderr is checked against the samples (rescore)
        bars = [] if metric.stderr is None else [metric.stderr]
        if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (metric.value, *bars)):
            v.fail(path, f"metric {key}: value {metric.value!r} ± {metric.stderr!r} is not a pair of finite numbers")
    alias = ALIASES.get(name)
    if alias is not None and alias.n_params and r.model.n_params != alias.n_params:
        v.fail(path, f"model {name} has {alias.n_params:,} parameters, not {r.model.n_params:,}: costs follow from it")
    kind = r.model.device.split(":")[0].lower()
    if kind not in PLAUSIBLE_PEAK:
        v.fail(path, f"device {r.model.device!r} is not a known kind ({', '.join(PLAUSIBLE_PEAK)})")
    if not isinstance(r.run.batch_size, int) or isinstance(r.run.batch_size, bool) or r.run.batch_size < 1:
        v.fail(path, f"batch size {r.run.batch_size!r} is not a positive number of questions")
    try:
        check_answer_turn(r.model.answer_turn, r.model.chat_template)
    except UserError as exc:
        v.fail(path, str(exc))


def check_task(v: Validation, path: Path, r: RunRecord) -> TaskFacts | None:
    facts = task_facts(v, r.task.name)
    if facts is None:
        v.fail(path, f"task {r.task.name!r} is not a task of this kmbench")
        return None
    heldout = task_roles().heldout_tag
    if heldout in v.manager.task_index[r.task.name].tags:
        v.fail(path, f"task {r.task.name!r} is held out for choosing defaults ({heldout}): never on the board")
    if r.task.version != facts.version:
        v.fail(path, f"task version {r.task.version} differs from this kmbench's {facts.version}")
    if r.task.corpus_sha256 != facts.corpus_sha256:
        v.fail(path, "the knowledge corpus hash differs from this kmbench's task data")
    if r.task.previous_corpus_sha256 != facts.previous_corpus_sha256:
        v.fail(path, "the update's previous corpus differs from this kmbench's task data")
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
        answer_turn=r.model.answer_turn,
        task=r.task.name,
        task_version=r.task.version,
        corpus_sha256=r.task.corpus_sha256,
        previous_corpus_sha256=r.task.previous_corpus_sha256,
        memory=r.memory.name,
        config=r.memory.config,
        seed=r.run.seed,
        limit=r.task.limit,
        context_budget=budget,
        judge=r.judge.model if r.judge else None,
        judge_rubric=identity_rubric(r.judge.rubric_sha256) if r.judge else None,
        judge_endpoint=r.judge.endpoint if r.judge else None,
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


def check_duplicates(v: Validation, path: Path, r: RunRecord) -> None:
    judge = r.judge.model if r.judge else None  # a judged run may sit beside the same run unjudged
    for key in (("run_id", r.run.run_id), ("run", r.task.name, r.model.name, r.label, r.run.seed, judge)):
        earlier = v.seen.get(key) or v.accepted.get(key)
        if earlier:
            v.fail(path, f"duplicates {earlier}")
        v.seen.setdefault(key, str(path))


def check_seeds(v: Validation, records: list[tuple[Path, RunRecord]]) -> None:
    """Seeds run from 0 without gaps for each row, so no one keeps the best of N seeds."""
    seeds: dict[tuple, list[int]] = {}
    for _, r in records:
        key = (r.task.name, r.model.name, r.label, r.judge.model if r.judge else None)
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
    check_fields(v, path, record)
    check_duplicates(v, path, record)
    memory = check_identity(v, path, record)
    facts = check_task(v, path, record)
    samples = check_samples(v, path, record, facts) if facts is not None else None
    if facts is not None and samples is not None:
        check_routing(v, path, record, memory, facts, samples)
        check_judge(v, path, record, samples, facts)
    traits = memory.traits if memory is not None else traits_of(record.memory.name)
    for problem in cost_problems(record, traits, samples):
        v.fail(path, problem)
    if written < SCHEMA_VERSION and record.run.git_sha and descends_from(v, SCHEMA_V2_COMMIT, record.run.git_sha):
        v.fail(path, f"schema_version {written}, but its commit writes v{SCHEMA_VERSION} (an old one drops retention)")
    check_forgetting(v, path, record, written, traits)
    if v.reproducer is not None and samples is not None and memory is not None:
        v.to_reproduce.append((path, record, samples, memory))
    return record


def check_reproductions(v: Validation, rows: list[tuple[Path, RunRecord, list[dict[str, Any]], Any]]) -> None:
    """Rerun the rows that need it, cheapest first so a budget covers the most: every row a claim
    names, and (when the folder changed) every row not yet reproduced in full by a trusted rerun.
    A row whose answers do not come out again (fewer than `MIN_IDENTICAL`) is refused, and so is a
    claim the rerun does not give; a row the budget does not reach stays pending."""

    def expected_seconds(row: tuple[Path, RunRecord, list, Any]) -> float:
        r, memory = row[1], row[3]
        training = r.cost.write_seconds if memory.traits.trains_parameters else 0.0
        return training + r.cost.seconds_per_query * r.task.n_queries

    names = {r.run.run_id for _, r, _, _ in rows}
    for rid in sorted(set(v.claims) - names):
        v.fail(v.folder, f"reproduced/: an entry for {rid}, which is no row of this submission")
    for path, r, samples, memory in sorted(rows, key=expected_seconds):
        budget = stated_budget(r)
        if budget == "unknown":
            continue  # already refused: the run id names no budget to rerun with
        rid, where = r.run.run_id, f"  {r.task.name} / {r.memory.label} (seed {r.run.seed})"
        claim, trusted = v.claims.get(rid), v.trusted.get(rid)
        if claim is None:
            if trusted is not None and trusted.in_full(r.task.n_queries, r.forgetting is not None):
                if v.reproducer.pending_only or not v.rerun_pending:
                    print(f"{where}: reproduced in full before ({trusted.cell()}), not rerun")
                    continue
            elif not v.rerun_pending:
                continue  # an unchanged folder: its pending rows wait for a maintainer's rerun
        found = v.reproducer.run(r, memory, samples, budget)
        v.reproductions.append(found)
        if v.reproducer.on_found is not None:
            v.reproducer.on_found(found)
        shown = f"reproduced {found.cell()}" if found.checked else f"not reproduced, pending: {found.reason}"
        print(f"{where}: {shown}", flush=True)
        if found.mismatch:
            v.fail(path, found.mismatch)
        elif found.refused:
            v.fail(path, f"answers do not reproduce and the claim beats the rerun: {found.cell()}; {found.example}")
        elif claim is not None and claim.cell() != found.cell():
            v.fail(path, f"reproduced/ claims {claim.cell()} for this row; the rerun gives {found.cell()}")


def validate_submission(folder: Path, accepted: dict[tuple, str] | None = None) -> list[str]:
    """Every problem with one submission folder; an empty list means it is accepted."""
    return run_validation(folder, accepted).problems


def run_validation(
    folder: Path,
    accepted: dict[tuple, str] | None = None,
    reproducer: Reproducer | None = None,
    reproductions: tuple[dict[str, Reproduction], dict[str, Reproduction], bool] | None = None,
) -> Validation:
    """Validate one submission folder; `.problems` empty means it is accepted.

    `accepted` holds the runs of submissions already accepted (to refuse duplicates across
    folders); an accepted submission adds its own runs to it. Nothing in the folder can stop
    the validation of another: an unexpected error becomes this submission's problem. With a
    `reproducer`, rows are also rerun (what it found is in `.reproductions`; see
    `check_reproductions`): `reproductions` is (trusted entries, claimed entries, whether the
    folder's pending rows get a rerun), from `bench.board.baseline`.
    """
    v = Validation(folder, accepted=accepted if accepted is not None else {}, reproducer=reproducer)
    v.trusted, v.claims, v.rerun_pending = reproductions or ({}, {}, True)
    if problems := folder_problems(folder):
        v.problems.extend(problems)
        return v
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
    if v.reproducer is not None and not v.problems:  # a refused submission is not worth the machine time
        check_reproductions(v, v.to_reproduce)
    if not v.problems:
        v.accepted.update(v.seen)
    return v


def submission_folders(path: Path) -> list[Path]:
    """A submission folder, or a folder of them (e.g. leaderboard/submissions)."""
    if (path / SUBMISSION_FILE).is_file() or (path / "records").is_dir():
        return [path]
    if not path.is_dir():
        raise UserError(f"{path} is not a folder")
    return sorted(p for p in path.iterdir() if p.is_dir())
