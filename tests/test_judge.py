"""The optional LLM judge: off by default, recorded when on, and re-checkable from its outputs."""

from __future__ import annotations

import json

import pytest
from conftest import head_commit, run_args

from bench.harness.judging import parse_score


@pytest.mark.parametrize(
    ("output", "score"),
    [("7", 7.0), (" Score: 10/10", 10.0), ("0", 0.0), ("eight", None), ("11", None), ("", None)],
)
def test_scores_are_the_first_whole_number_from_0_to_10(output, score):
    assert parse_score(output) == score


def test_judged_run_records_the_judge_and_validates(tiny_model_dir, tmp_path, monkeypatch):
    import bench.run.runner
    from bench.board.submission import create_submission
    from bench.board.validate import validate_submission
    from bench.cli import main
    from bench.run.record import find_records, load_record, samples_path_for

    monkeypatch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    out = tmp_path / "runs"
    plain = run_args(tiny_model_dir, out, "kmb_paperqa_small", memories="none", limit=2)
    assert main(plain) == 0
    assert main([*plain, "--judge", str(tiny_model_dir)]) == 0  # a judged run is a run of its own
    records = [load_record(p) for p in find_records(out)]
    judged = [r for r in records if r.judge is not None]
    assert len(records) == 2 and len(judged) == 1
    assert judged[0].judge.model == str(tiny_model_dir) and judged[0].judge.scale == 10
    malformed = judged[0].metrics["judge_malformed"].value  # a random tiny model rarely writes a JSON verdict
    assert malformed == judged[0].judge.unparseable / 2 and ("judge" in judged[0].metrics or malformed == 1.0)
    assert "judge" not in next(r for r in records if r.judge is None).metrics

    folder = create_submission(out, tmp_path / "submissions", "tiny-judge", "KMBench tests", "2 CPU cores")
    assert validate_submission(folder) == []
    path = next(p for p in find_records(folder) if load_record(p).judge is not None)
    samples = samples_path_for(path)
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    score = 0 if rows[0]["metrics"].get("judge") == 1.0 else 10
    rows[0]["judge_output"] = json.dumps({"score": score, "rationale": "Tampered."})
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert any("judge scores differ" in p for p in validate_submission(folder))


def test_an_unknown_judge_fails_before_any_run(tiny_model_dir, tmp_path, capsys):
    from bench.cli import main
    from bench.run.record import find_records

    args = run_args(
        tiny_model_dir, tmp_path, "kmb_paperqa_small", "--judge", str(tmp_path / "nowhere"), memories="none"
    )
    assert main(args) == 2
    assert "cannot load model" in capsys.readouterr().err and not find_records(tmp_path)


def test_a_sweep_worker_judges_with_the_runners_judge(tiny_model_dir, monkeypatch):
    """A Ray worker once built its own judge: a bare model (no `.ask`) that ignored the endpoint."""
    import bench.run.runner
    from bench.answer.endpoint import Endpoint
    from bench.answer.judge import LocalJudge
    from bench.run.runner import RunSettings
    from bench.study.executors import Cell, RunWorker

    seen = []
    monkeypatch.setattr(
        bench.run.runner, "run_or_load", lambda lm, p, spec, memory, command, shared: seen.append(shared)
    )
    worker = RunWorker()
    local = RunSettings(model=str(tiny_model_dir), judge=str(tiny_model_dir))
    served = RunSettings(model=str(tiny_model_dir), judge="a-judge", judge_endpoint="http://127.0.0.1:9/v1/")
    for settings in (local, served):
        worker.run(Cell(settings, "kmb_paperqa_small", "none", {}, "none"))
    assert isinstance(seen[0].judge, LocalJudge) and seen[0].judge.model is worker.model(str(tiny_model_dir))
    assert isinstance(seen[1].judge, Endpoint) and seen[1].judge.url == "http://127.0.0.1:9/v1"
