"""Leaderboard submissions: a folder with `submission.yaml` and the run records it vouches for.

    leaderboard/submissions/<id>/submission.yaml
    leaderboard/submissions/<id>/records/<task>/<model>/<run_id>.json (+ .samples.jsonl[.gz])

`create_submission` packs the records of a runs folder this way; `bench.board.validate` checks one.
"""

from __future__ import annotations

import gzip
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.core.errors import UserError
from bench.run.record import find_records, load_record, samples_path_for

SUBMISSION_VERSION = 1
SUBMISSION_FILE = "submission.yaml"
GZIP_ABOVE_BYTES = 256 * 1024
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


@dataclass(frozen=True)
class Submission:
    id: str
    submitter: str
    model: str
    memories: list[str]
    tasks: list[str]
    hardware: str
    kmbench_version: str
    kmbench_commit: str
    notes: str
    schema_version: int = SUBMISSION_VERSION


def submission_records(folder: Path) -> list[Path]:
    """Laid out as `kmbench run` writes them, so the reporter reads both alike."""
    return find_records(folder)


def create_submission(runs: Path, root: Path, sub_id: str, submitter: str, hardware: str, notes: str = "") -> Path:
    """Copy every record of `runs` (one model, one clean commit) into `root/<sub_id>/`."""
    import yaml

    if not ID_PATTERN.match(sub_id):
        raise UserError(f"submission id {sub_id!r}: use 3-64 lowercase letters, digits, '.', '_' or '-'")
    paths = find_records(runs)
    if not paths:
        raise UserError(f"no run records under {runs}/records")
    records = [load_record(p) for p in paths]
    models = sorted({r.model.name for r in records})
    commits = sorted({str(r.run.git_sha) for r in records})
    if len(models) != 1:
        raise UserError(f"one model per submission; {runs} holds {', '.join(models)}")
    if len(commits) != 1 or commits[0] == "None" or any(r.run.git_dirty for r in records):
        raise UserError("records must come from one clean kmbench commit (run from a clean checkout)")
    folder = root / sub_id
    if folder.exists():
        raise UserError(f"{folder} exists; choose another id")
    for path in paths:
        target = folder / path.relative_to(runs)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        samples = samples_path_for(path)
        if samples is None:
            raise UserError(f"{path}: its per-sample log is missing")
        if samples.suffix != ".gz" and samples.stat().st_size > GZIP_ABOVE_BYTES:
            with samples.open("rb") as src, gzip.open(target.with_name(samples.name + ".gz"), "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copyfile(samples, target.with_name(samples.name))
    submission = Submission(
        id=sub_id,
        submitter=submitter,
        model=models[0],
        memories=sorted({r.memory.label for r in records}),
        tasks=sorted({r.task.name for r in records}),
        hardware=hardware,
        kmbench_version=records[0].run.kmbench_version,
        kmbench_commit=commits[0],
        notes=notes,
    )
    (folder / SUBMISSION_FILE).write_text(yaml.safe_dump(asdict(submission), sort_keys=False))
    return folder
