from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.core.errors import UserError
from bench.run.record import find_records, load_record, record_paths, save_record

GOLDEN = Path(__file__).parent / "golden"
LORA = next((GOLDEN / "records").rglob("lora-*.json"))


def test_round_trip_is_lossless(tmp_path):
    record = load_record(LORA)
    path, samples = record_paths(tmp_path, record.task.name, "m", record.run.run_id)
    save_record(record, [{"doc_id": 0}], path, samples)
    assert load_record(path) == record
    assert json.loads(path.read_text()) == json.loads(record.to_json())
    assert samples.read_text() == '{"doc_id": 0}\n'
    assert find_records(tmp_path) == [path]
    assert not list(path.parent.glob(".*tmp"))


def test_flatten_has_metrics_stderr_and_costs():
    row = load_record(LORA).flatten()
    assert row["memory"] == "lora" and row["task"] == "kmb_phonebook_1k"
    assert 0 <= row["exact_match"] <= 1 and "exact_match_stderr" in row
    assert row["write_seconds"] > 0 and row["trainable_params"] > 0


def test_other_schema_versions_are_refused(tmp_path):
    data = json.loads(LORA.read_text())
    data["schema_version"] = 99
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="schema version 99"):
        load_record(tmp_path / "r.json")
    (tmp_path / "bad.json").write_text('{"schema_version": 1}')
    with pytest.raises(UserError, match="not a KMBench run record"):
        load_record(tmp_path / "bad.json")
