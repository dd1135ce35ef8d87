"""The forgetting probe: its data, its arithmetic, and that it is not a task one can run alone."""

from __future__ import annotations

import json

from conftest import run_args

from bench.core.paths import TASKS_DIR
from bench.harness.taskdata import jsonl_dataset
from bench.run.retention import forgetting


def test_probe_questions_are_entityquestions_with_answers():
    rows = jsonl_dataset("data/qa.jsonl", TASKS_DIR / "kmb_forgetting")["test"]
    provenance = json.loads((TASKS_DIR / "kmb_forgetting/data/provenance.json").read_text())
    assert len(rows) == provenance["kept"] > 0 and provenance["known"] >= provenance["kept"]
    assert all(r["question"].endswith("?") and r["answers"] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)


def test_retention_counts_only_what_the_base_model_knew():
    base = (["a", "b", "c", "d"], [1.0, 1.0, 0.0, 1.0], "1")
    mine = (["a", "x", "c", "d"], [1.0, 0.0, 1.0, 1.0], "1")
    f = forgetting(base, mine)
    assert (f.base_correct, f.retained, f.retention) == (3, 2, 2 / 3)
    assert forgetting((["a"], [0.0], "1"), (["a"], [1.0], "1")).retention is None


def test_the_probe_is_not_a_task_to_run_alone(tiny_model_dir, tmp_path, capsys):
    from bench.cli import main

    assert main(run_args(tiny_model_dir, tmp_path, "kmb_forgetting")) == 2
    assert "probe" in capsys.readouterr().err


def test_v1_records_migrate_without_a_probe(tmp_path):
    from pathlib import Path

    from bench.run.record import SCHEMA_VERSION, load_record

    golden = next((Path(__file__).parent / "golden" / "records").rglob("lora-*.json"))
    assert json.loads(golden.read_text())["schema_version"] == 1
    record = load_record(golden)
    assert record.forgetting is None and record.schema_version == SCHEMA_VERSION == 2
    assert record.flatten()["retention"] is None
