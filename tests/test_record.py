from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.core.config import stable_hash
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


def test_a_record_from_before_answer_turns_was_answered_as_the_assistant(tmp_path):
    """Records written before `model.answer_turn` existed keep their run id and their label."""
    import dataclasses

    from bench.run.identity import RunIdentity

    data = json.loads(LORA.read_text())
    data["model"].pop("answer_turn", None)
    (tmp_path / "r.json").write_text(json.dumps(data))
    record = load_record(tmp_path / "r.json")
    assert record.model.answer_turn == "assistant" and record.label == record.memory.label
    fields = {"model_id": "m", "chat_template": True, "task": "t", "task_version": "1", "corpus_sha256": "c"}
    fields |= {"memory": "lora", "config": {}, "seed": 0, "limit": None, "context_budget": None}
    before = RunIdentity(**fields)
    assert before.run_id() == "lora-" + stable_hash({k: v for k, v in {**fields, "model": "m", "version": "1",
        "corpus": "c"}.items() if k not in ("model_id", "task_version", "corpus_sha256")})  # fmt: skip
    user = dataclasses.replace(before, answer_turn="user")
    assert user.run_id() != before.run_id()
    asked = dataclasses.replace(record, model=dataclasses.replace(record.model, answer_turn="user"))
    assert asked.flatten()["memory"] == f"{record.memory.label} [user turn]"


def test_other_schema_versions_are_refused(tmp_path):
    data = json.loads(LORA.read_text())
    data["schema_version"] = 99
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="schema version 99"):
        load_record(tmp_path / "r.json")
    (tmp_path / "bad.json").write_text('{"schema_version": 1}')
    with pytest.raises(UserError, match="not a KMBench run record"):
        load_record(tmp_path / "bad.json")
