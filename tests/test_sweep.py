"""Sweeps: a YAML grid expands to runs, resumes after an interruption, never duplicates a record."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import bench.run.runner
from bench.core.errors import UserError
from bench.run.record import find_records, load_record
from bench.run.runner import RunSettings
from bench.study.executors import Resources
from bench.study.sweep import load_sweep, run_sweep

GRID = """
name: tiny
models: [{model}]
tasks: kmb_phonebook_1k
seeds: [0, 1]
limit: 2
memories:
  - none
  - {{memory: icl, budgets: [16, 64]}}
  - {{memory: lora, epochs: 1, batch_size: 4, grid: {{rank: [2, 4]}}}}
"""


def write_grid(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def test_grid_expands_every_axis(tmp_path):
    sweep = load_sweep(write_grid(tmp_path, GRID.format(model="m")))
    cells = sweep.cells()
    assert len(cells) == 2 * (1 + 2 + 2)  # seeds x (none + icl budgets + lora ranks)
    assert {(c.memory, c.config.get("rank")) for c in cells if c.memory == "lora"} == {("lora", 2), ("lora", 4)}
    assert {c.budget for c in cells if c.memory == "icl"} == {16, 64}
    assert {c.resources for c in cells} == {Resources()}  # nothing asked: one CPU, no GPU
    assert {c.chat_template for c in cells} == {None}  # the run's setting


def test_memory_entries_ask_for_resources_and_keep_them_out_of_the_config(tmp_path):
    text = "name: x\ntasks: [t]\nmemories: [{memory: lora, rank: 2, num_gpus: 0.5, num_cpus: 4}]\n"
    [cell] = load_sweep(write_grid(tmp_path, text)).cells()
    assert cell.config == {"rank": 2} and cell.resources == Resources(num_cpus=4, num_gpus=0.5)


def test_entries_switch_the_chat_template_and_name_a_profile(tmp_path):
    text = (
        "name: x\ntasks: [t]\nmemories: [{memory: lora, profile: study, chat_template: true, grid: {rank: [2, 8]}}]\n"
    )
    cells = load_sweep(write_grid(tmp_path, text)).cells()
    assert [(c.chat_template, c.config) for c in cells] == [
        (True, {"profile": "study", "rank": 2}),
        (True, {"profile": "study", "rank": 8}),
    ]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("name: x\ntasks: [t]\nmemories: [{memory: lora, grid: {rank: 4}}]\n", "non-empty lists"),
        ("name: x\ntasks: [t]\nmemories: [{memory: icl, budgets: [-1]}]\n", "context budgets"),
        ("name: x\ntasks: [t]\nmemories: [none]\nseed: [1]\n", "unknown field"),
        ("name: x\ntasks: [t]\nmemories: none\n", "`memories` is a list"),
        ("name: x\ntasks: [t\n", "malformed YAML"),
        ("name: x\ntasks: [t]\nmemories: [{memory: lora, num_gpus: -1}]\n", "num_gpus must be >= 0"),
        ("name: x\ntasks: [t]\nmemories: [{memory: lora, num_cpus: many}]\n", "num_cpus: cannot read 'many'"),
        ("name: x\ntasks: [t]\nmemories: [{memory: lora, chat_template: yes please}]\n", "true or false"),
        ("name: x\ntasks: [t]\nmemories: [{memory: lora, num_gpus: [1]}]\n", "num_gpus must be a number"),
    ],
)
def test_bad_grids_are_user_errors(tmp_path, text, reason):
    with pytest.raises(UserError, match=reason):
        load_sweep(write_grid(tmp_path, text))


def test_an_interrupted_sweep_resumes_with_every_record_exactly_once(tiny_model_dir, tmp_path, monkeypatch):
    sweep = load_sweep(write_grid(tmp_path, GRID.format(model=tiny_model_dir)))
    settings = RunSettings(out=tmp_path / "runs", forgetting=False)
    real_run_one, done = bench.run.runner.run_one, []

    def dies_after_four(*args, **kwargs):
        if len(done) == 4:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C in the middle of the fifth run
        done.append(1)
        return real_run_one(*args, **kwargs)

    monkeypatch.setattr(bench.run.runner, "run_one", dies_after_four)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, settings)
    first = {p: p.stat().st_mtime_ns for p in find_records(settings.out)}
    assert len(first) == 4
    monkeypatch.setattr(bench.run.runner, "run_one", real_run_one)
    result = run_sweep(sweep, settings)
    records = result.records
    assert not result.failures
    paths = find_records(settings.out)
    assert len(records) == len(paths) == 10
    assert len({load_record(p).run.run_id for p in paths}) == 10
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())  # finished runs were not redone
    budgets = sorted(r.cost.context_budget for r in records if r.memory.name == "icl")
    assert budgets == [16, 16, 64, 64]


def test_the_ray_executor_without_ray_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from bench.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the `ray` extra were not installed
    grid = write_grid(tmp_path, "name: x\ntasks: [kmb_phonebook_1k]\nmemories: [none]\n")
    code = main(["sweep", str(grid), "--executor", "ray", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("kmbench: error: --executor ray needs Ray") and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()
