"""Sweeps: a YAML grid expands to runs, resumes after an interruption, never duplicates a record."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import run_args

import bench.run.runner
from bench.core.errors import UserError
from bench.run.record import find_records, load_record
from bench.run.runner import RunSettings
from bench.study.executors import Resources, SweepResult
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
    text = "name: x\ntasks: [t]\nmemories: [{memory: lora, chat_template: true, answer_turn: user}, none]\n"
    cells = load_sweep(write_grid(tmp_path, text)).cells()
    assert [(c.answer_turn, c.config) for c in cells] == [("user", {}), (None, {})]  # a run setting


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
        ("name: x\ntasks: [t]\nmemories: [{memory: lora, num_gpus: [1]}]\n", r"num_gpus: cannot read \[1\] as float"),
        ("name: x\ntasks: [t]\nmemories: [{memory: lora, answer_turn: system}]\n", "one of assistant, user"),
        ("name: x\ntasks: [t]\nlimit: 0\nmemories: [none]\n", "limit must be a positive integer"),
    ],
)
def test_bad_grids_are_user_errors(tmp_path, text, reason):
    with pytest.raises(UserError, match=reason):
        load_sweep(write_grid(tmp_path, text))


def test_an_entry_limit_replaces_the_sweeps_for_its_own_runs(tmp_path):
    text = "name: x\ntasks: [t]\nlimit: 2\nmemories: [none, {memory: icl, limit: 5}, {memory: rag, limit: null}]\n"
    cells = load_sweep(write_grid(tmp_path, text)).cells()
    assert [(c.memory, c.limit) for c in cells] == [("none", 2), ("icl", 5), ("rag", 2)]
    assert all(c.config == {} for c in cells)  # a run setting, not a field of the memory's config
    text = "name: x\ntasks: [t]\nmemories: [none, {memory: icl, limit: 1}]\n"
    assert [c.limit for c in load_sweep(write_grid(tmp_path, text)).cells()] == [None, 1]


@pytest.mark.parametrize("value", ["0", "-3", "two", "true", "1.5", "[4]"])
def test_a_bad_entry_limit_is_one_line_naming_the_file_and_the_entry(tmp_path, value):
    path = write_grid(tmp_path, f"name: x\ntasks: [t]\nmemories: [none, {{memory: icl, limit: {value}}}]\n")
    with pytest.raises(UserError) as caught:
        load_sweep(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: memories[1]: `limit` is a positive number") and "\n" not in message


def test_an_entry_limit_makes_the_run_kmbench_run_limit_makes(tiny_model_dir, tmp_path):
    """Same run id and record as `kmbench run --limit N` (a partial row), apart from the sweep's other runs."""
    from bench.cli import main

    text = f"name: x\nmodels: [{tiny_model_dir}]\ntasks: [kmb_phonebook_1k]\nlimit: 2\n"
    text += "memories: [none, {memory: none, limit: 3}]\n"
    result = run_sweep(load_sweep(write_grid(tmp_path, text)), RunSettings(out=tmp_path / "sweep", forgetting=False))
    by_limit = {r.task.limit: r for r in result.records}
    assert sorted(by_limit) == [2, 3] and [by_limit[n].task.n_queries for n in (2, 3)] == [2, 3]
    for n in (2, 3):
        out = tmp_path / f"run{n}"
        assert main(run_args(tiny_model_dir, out, "kmb_phonebook_1k", memories="none", limit=n)) == 0
        [path] = find_records(out)
        assert load_record(path).run.run_id == by_limit[n].run.run_id


def test_ray_cells_carry_each_entry_limit(tmp_path, monkeypatch):
    import bench.study.sweep as sweep_module

    cells = []
    monkeypatch.setattr(sweep_module, "import_ray", lambda: None)  # Ray itself is not needed to plan the cells
    monkeypatch.setattr(sweep_module, "run_on_ray", lambda found, *rest: cells.extend(found) or SweepResult([]))
    text = "name: x\ntasks: [kmb_phonebook_1k]\nlimit: 2\nmemories: [none, {memory: icl, limit: 3}]\n"
    run_sweep(load_sweep(write_grid(tmp_path, text)), RunSettings(out=tmp_path / "runs"), executor="ray")
    assert sorted((c.memory, c.settings.limit) for c in cells) == [("icl", 3), ("none", 2)]


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


def test_cells_run_in_the_files_order(tmp_path, monkeypatch):
    """An entry written last runs last, even when its settings match an earlier entry's: a preset
    puts its expensive extras at the end (study-cpu's DCD after every LoRA cell)."""
    import bench.study.sweep as sweep_module

    ran: list[tuple[bool, str]] = []

    def execute(p, command=None, on_done=None):
        ran.extend((p.settings.chat_template, m.name) for m in p.memories)
        return []

    monkeypatch.setattr(sweep_module, "execute", execute)
    text = "name: x\ntasks: [kmb_phonebook_1k]\nmemories: [none, {memory: icl, chat_template: true}, rag]\n"
    sweep_module.run_sweep(load_sweep(write_grid(tmp_path, text)), RunSettings(out=tmp_path))
    assert ran == [(False, "none"), (True, "icl"), (False, "rag")]


def test_resume_from_adopts_committed_records_and_overwrites_nothing(tiny_model_dir, tmp_path, monkeypatch):
    """A fresh clone resumes a committed grid: the committed runs are skipped, not retrained."""
    text = f"name: x\nmodels: [{tiny_model_dir}]\ntasks: [kmb_phonebook_1k]\nlimit: 2\nmemories: [none, icl]\n"
    committed = tmp_path / "committed"
    run_sweep(load_sweep(write_grid(tmp_path, text)), RunSettings(out=committed, forgetting=False))
    [kept, lost] = sorted(find_records(committed))
    lost.with_name(lost.stem + ".samples.jsonl").unlink()  # a record without its samples is not finished

    out = tmp_path / "fresh"
    mine = out / kept.relative_to(committed)
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")  # a record already in --out stays as it is
    ran = []

    def stops(*args, **kwargs):
        ran.append(args[3].name)  # the memory
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.run.runner, "run_one", stops)
    resumed = write_grid(tmp_path, text + f"resume_from: [{committed}]\n")
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(resumed), RunSettings(out=out, forgetting=False))
    assert mine.read_text() == "mine"
    assert not (out / lost.relative_to(committed)).exists()
    assert len(ran) == 1  # the record without samples is the run that runs again


def test_resume_from_adopts_every_finished_record(tiny_model_dir, tmp_path, monkeypatch):
    text = f"name: x\nmodels: [{tiny_model_dir}]\ntasks: [kmb_phonebook_1k]\nlimit: 2\nmemories: [none, icl]\n"
    committed = tmp_path / "committed"
    first = run_sweep(load_sweep(write_grid(tmp_path, text)), RunSettings(out=committed, forgetting=False))
    (committed / "train_logs").mkdir()
    (committed / "train_logs" / "t-lora-1.json").write_text("committed")  # an adopted write's loss curve
    (committed / "train_logs" / "t-lora-2.json").write_text("committed")
    (tmp_path / "fresh" / "train_logs").mkdir(parents=True)
    (tmp_path / "fresh" / "train_logs" / "t-lora-2.json").write_text("mine")
    monkeypatch.setattr(bench.run.runner, "run_one", lambda *a, **k: pytest.fail("a committed run was retrained"))
    resumed = write_grid(tmp_path, text + f"resume_from: [{committed}, {tmp_path / 'absent'}]\n")
    result = run_sweep(load_sweep(resumed), RunSettings(out=tmp_path / "fresh", forgetting=False))
    assert sorted(r.run.run_id for r in result.records) == sorted(r.run.run_id for r in first.records)
    assert len(find_records(tmp_path / "fresh")) == 2
    logs = tmp_path / "fresh" / "train_logs"
    assert [(logs / n).read_text() for n in ("t-lora-1.json", "t-lora-2.json")] == ["committed", "mine"]
