"""The validator accepts a real submission and refuses each kind of tampering, with the reason."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from bench.board.schema import render, schema_files
from bench.board.submission import create_submission
from bench.board.validate import validate_submission
from bench.cli import main
from bench.report.pareto import pareto_front
from bench.run.record import find_records, samples_path_for


@pytest.fixture
def submission(runs, tmp_path) -> Path:
    return create_submission(runs, tmp_path / "submissions", "tiny-test", "KMBench tests", "2 CPU cores")


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def first_record(folder: Path, memory: str = "icl") -> Path:
    return next(p for p in find_records(folder) if p.name.startswith(memory))


def test_a_real_submission_passes(submission):
    assert validate_submission(submission) == []
    assert main(["validate", str(submission.parent)]) == 0


def test_a_hand_edited_score_is_refused(submission, capsys):
    edit_json(first_record(submission), lambda d: d["metrics"]["exact_match"].update(value=0.99))
    problems = validate_submission(submission)
    assert len(problems) == 1 and "exact_match is 0.99 but the samples score" in problems[0]
    assert main(["validate", str(submission)]) == 1
    assert "REFUSED" in capsys.readouterr().out


def test_missing_samples_are_refused(submission):
    samples = samples_path_for(first_record(submission))
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:-1]))
    assert any("2 samples for 3 questions" in p for p in validate_submission(submission))
    samples.unlink()
    assert any("per-sample log" in p for p in validate_submission(submission))


def test_edited_task_data_in_samples_is_refused(submission):
    samples = samples_path_for(first_record(submission))
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    rows[0]["doc"]["answer"] = rows[0]["filtered_response"]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert any("differ from the task's data" in p for p in validate_submission(submission))


def test_compressed_samples_are_read(submission):
    samples = samples_path_for(first_record(submission))
    with gzip.open(samples.with_name(samples.name + ".gz"), "wt") as f:
        f.write(samples.read_text())
    samples.unlink()
    assert validate_submission(submission) == []


def test_duplicates_dirty_runs_old_schemas_and_costs_are_refused(submission, tmp_path):
    twin = tmp_path / "submissions" / "tiny-twin"
    shutil.copytree(submission, twin)
    seen: dict = {}
    assert validate_submission(submission, seen) == []
    assert any("duplicates" in p for p in validate_submission(twin, seen))
    record = first_record(submission, "none")
    edit_json(record, lambda d: d["run"].update(git_dirty=True))
    edit_json(first_record(submission), lambda d: d["cost"].update(seconds_per_query=-1.0))
    problems = validate_submission(submission)
    assert any("clean kmbench commit" in p for p in problems)
    assert any("cost.seconds_per_query = -1.0" in p for p in problems)
    edit_json(record, lambda d: d.update(schema_version=0))
    assert any("schema version 0 cannot be read" in p for p in validate_submission(submission))


def test_submission_yaml_is_checked_against_its_schema(submission):
    path = submission / "submission.yaml"
    path.write_text(path.read_text().replace("submitter:", "submiter:"))
    problems = validate_submission(submission)
    assert any("submission.yaml" in p and "submitter" in p for p in problems)


def test_committed_schemas_match_the_dataclasses():
    for path, schema in schema_files().items():
        assert path.read_text() == render(schema), f"{path} is stale: run python -m bench.board.schema"


def test_pareto_front():
    assert pareto_front([0, 1, 2, 3, 5], [0.1, 0.5, 0.4, 0.9, 0.9]) == [0, 1, 3]


def test_a_genuine_hybrid_with_a_lora_part_passes(tiny_model_dir, tmp_path, monkeypatch):
    """The validator asks the memory's traits whether it trains parameters; it used to test for
    "lora" in the name and refused every hybrid with a LoRA part."""
    from conftest import head_commit, run_args

    import bench.run.runner

    monkeypatch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    config = tmp_path / "hybrid.yaml"
    config.write_text("memory: hybrid\nparts:\n  - {memory: lora, epochs: 1, rank: 2, batch_size: 4}\n  - rag\n")
    out = tmp_path / "runs"
    args = run_args(tiny_model_dir, out, "kmb_phonebook_1k", memories=str(config), limit=2)
    assert main(args) == 0
    (record,) = find_records(out)
    assert json.loads(record.read_text())["cost"]["trainable_params"] > 0
    folder = create_submission(out, tmp_path / "submissions", "tiny-hybrid", "KMBench tests", "2 CPU cores")
    assert validate_submission(folder) == []
