"""User mistakes end in one line on stderr, exit status 2, and nothing written."""

from __future__ import annotations

import pytest
from conftest import run_args

from bench.cli import main


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err.strip()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tasks", "kmb_nosuchtask"], "unknown task 'kmb_nosuchtask'"),
        (["--memories", "none,telepathy"], "unknown memory 'telepathy'"),
        (["--set", "lora.rnak=4"], "unknown field(s) rnak"),
        (["--set", "rag.top_k=0"], "top_k must be positive"),
        (["--set", "lora=4"], "expected memory.field=value"),
        (["--memories", "none", "--set", "lora.rank=4"], "--set names memories not being run: lora"),
        (["--model", "/no/such/folder/or/hub-id"], "cannot load model"),
        (["--limit", "0"], "limit must be positive"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(extra, message, tmp_path, capsys):
    out = tmp_path / "runs"
    code, err = run_cli(["run", "--out", str(out), "--reports", str(tmp_path / "rep"), *extra], capsys)
    assert code == 2
    assert err.startswith("kmbench: error: ") and message in err
    assert len(err.splitlines()) == 1
    assert not out.exists() and not (tmp_path / "rep").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("memory: lora\nrank: [oops", "malformed config"),
        ("rank: 8\n", "`memory: <name>`"),
        ("memory: lora\nrank: -1\n", "rank must be positive"),
    ],
)
def test_malformed_memory_config_files(content, message, tmp_path, capsys):
    path = tmp_path / "memory.yaml"
    path.write_text(content)
    code, err = run_cli(["run", "--memories", str(path), "--out", str(tmp_path / "runs")], capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_report_without_records_is_a_user_error(tmp_path, capsys):
    code, err = run_cli(["report", "--out", str(tmp_path)], capsys)
    assert code == 2 and "no run records" in err


def test_ls_lists_tasks_memories_and_models(capsys):
    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    assert "kmb_phonebook_1k" in out and "lora" in out and "smollm2-135m" in out


def test_run_on_tiny_model_writes_records_then_skips_them(tiny_model_dir, tiny_task_dir, tmp_path, caplog):
    args = run_args(tiny_model_dir, tmp_path / "runs", "kmb_tiny", "--include-path", str(tiny_task_dir), limit=2)
    assert main(args) == 0
    records = sorted((tmp_path / "runs/records/kmb_tiny").rglob("*.json"))
    assert len(records) == 2
    assert all(p.with_suffix(".samples.jsonl").is_file() for p in records)
    stamps = [p.stat().st_mtime_ns for p in records]
    assert main(args) == 0  # same configs: kept, not rerun or overwritten
    assert [p.stat().st_mtime_ns for p in records] == stamps
    assert sum("record exists" in m for m in caplog.messages) == 2
    assert (tmp_path / "runs/reports/results.md").read_text().count("| `") == 2
    assert not any("tasks not found" in m for m in caplog.messages)  # the report sees the include path


def test_every_record_names_its_profile(tiny_model_dir, tiny_task_dir, tmp_path):
    from bench.run.record import load_record

    args = run_args(tiny_model_dir, tmp_path / "runs", "kmb_tiny", "--include-path", str(tiny_task_dir), limit=2)
    args += ["--memories", "icl,rag", "--set", "icl.profile=study"]
    assert main(args) == 0
    rows = [load_record(p).flatten() for p in (tmp_path / "runs/records").rglob("*.json")]
    assert sorted((r["memory"], r["profile"]) for r in rows) == [("icl@study", "study"), ("rag", "kmbench")]
    icl = next(r for r in rows if r["memory"] == "icl@study")  # its corpus, encoded once, is in the record
    assert icl["prefix_tokens"] >= icl["context_tokens_per_query"] > 0 and icl["prefix_cache_bytes"] > 0


def test_a_run_outside_a_checkout_prints_no_git_error(tiny_model_dir, tiny_task_dir, tmp_path, monkeypatch, capfd):
    """lm-eval would run `git describe` in the working directory and print git's fatal error."""
    monkeypatch.chdir(tmp_path)
    args = run_args(tiny_model_dir, tmp_path / "runs", "kmb_tiny", "--include-path", str(tiny_task_dir), limit=1,
                    memories="none")  # fmt: skip
    assert main(args) == 0
    assert "not a git repository" not in capfd.readouterr().err
