"""Sweeps on a real local Ray cluster, and cache folders shared by racing writers.

On Ray: the same records (run ids, scores) as in-process; a worker killed with SIGKILL mid-run is
restarted and its run retried; a run that raises is reported in one line while the rest go on; and
a rerun finds every record exactly once, none half-written.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from bench.cli import main
from bench.core.staging import staged_folder
from bench.run.record import find_records, load_record, read_samples, samples_path_for
from bench.run.runner import RunSettings
from bench.study.sweep import load_sweep, run_sweep

LIMIT = 2
SAME_AS_IN_PROCESS = """
name: ray-vs-in-process
models: [{model}]
tasks: [kmb_phonebook_1k]
limit: {limit}
forgetting: false
memories:
  - {{memory: none, seeds: [0, 1]}}
  - {{memory: icl, budgets: [16, 64]}}
  - {{memory: rag, budgets: [32, null]}}
  - {{memory: lora, rank: 2, epochs: 1, batch_size: 4, budgets: [null, 64]}}  # one adapter, two workers may race
"""
KILLED = """
name: killed
models: [{model}]
tasks: [kmb_phonebook_1k]
seeds: [0, 1]
limit: {limit}
forgetting: false
memories:
  - {{memory: lora, rank: 2, epochs: 2, batch_size: 4, budgets: [null, 64]}}
  - {{memory: none, seeds: [0]}}
  - {{memory: lora, format: qa1, generator: /no/such/generator, seeds: [0]}}  # fails at run time, not at planning
"""


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def grid(tmp_path: Path, text: str, model: Path) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text.format(model=model, limit=LIMIT))
    return path


def scores(out: Path) -> dict[str, tuple]:
    """run id -> (where its record lies, its metrics, its answers)."""
    table = {}
    for path in find_records(out):
        record = load_record(path)
        answers = [row["response"] for row in read_samples(samples_path_for(path))]
        metrics = {name: (m.value, m.stderr) for name, m in record.metrics.items()}
        table[record.run.run_id] = (str(path.relative_to(out)), metrics, answers)
    return table


def test_ray_writes_the_records_the_in_process_executor_writes(cluster, tiny_model_dir, tmp_path):
    sweep = load_sweep(grid(tmp_path, SAME_AS_IN_PROCESS, tiny_model_dir))
    on_ray = run_sweep(sweep, RunSettings(out=tmp_path / "ray"), executor="ray")
    here = run_sweep(sweep, RunSettings(out=tmp_path / "here"))  # reads the adapter Ray trained, scores the same
    assert not on_ray.failures and len(on_ray.records) == len(here.records) == 8
    assert [r.run.run_id for r in on_ray.records] == [r.run.run_id for r in here.records]  # and in the same order
    assert scores(tmp_path / "ray") == scores(tmp_path / "here")
    adapters = [p for p in (Path(os.environ["KMBENCH_CACHE"]) / "adapters").iterdir()]
    assert len(adapters) == 1 and (adapters[0] / "kmbench_train.json").is_file()  # no scratch copy left behind


def kill_a_worker_mid_run(cache: Path, killed: list[int], stop: threading.Event) -> None:
    """Once an adapter is being trained, SIGKILL a worker whose process title says it is inside a run."""
    while not stop.is_set() and not killed:
        folder = cache / "adapters"
        training = folder.is_dir() and any(p.name.endswith(".tmp") for p in folder.iterdir())
        for proc in psutil.process_iter(["pid", "cmdline"]) if training else ():
            if (proc.info["cmdline"] or [""])[0].startswith("ray::RunWorker.run"):
                os.kill(proc.info["pid"], signal.SIGKILL)
                killed.append(proc.info["pid"])
                return
        time.sleep(0.05)


def test_a_worker_killed_mid_run_is_retried_and_a_rerun_finds_every_record_once(
    cluster, tiny_model_dir, tmp_path, capsys
):
    path, out = grid(tmp_path, KILLED, tiny_model_dir), tmp_path / "runs"
    args = ["sweep", str(path), "--executor", "ray", "--out", str(out), "--reports", str(tmp_path / "reports")]
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=kill_a_worker_mid_run, args=(Path(os.environ["KMBENCH_CACHE"]), killed, stop))
    killer.start()
    try:
        code = main(args)
    finally:
        stop.set()
        killer.join()
    err = capsys.readouterr().err
    assert killed and not psutil.pid_exists(killed[0])
    failed = [line for line in err.splitlines() if "run failed" in line]
    assert len(failed) == 1 and "/no/such/generator" in failed[0]  # the one bad run, in one line; the rest went on
    assert code == 1 and "1 run(s) failed" in err

    records = find_records(out)
    assert len(records) == 5  # 4 LoRA runs (the killed one retried) and the closed book
    first = {p: p.stat().st_mtime_ns for p in records}
    for p in records:  # none half-written: each record loads and has all its samples beside it
        assert load_record(p).run.run_id == p.stem
        assert len(read_samples(samples_path_for(p))) == LIMIT
    adapters = [p for p in (Path(os.environ["KMBENCH_CACHE"]) / "adapters").iterdir() if not p.name.startswith(".")]
    assert len(adapters) == 2 and all(json.loads((p / "kmbench_train.json").read_text())["steps"] for p in adapters)

    assert main(args) == 1  # the rerun: the bad run fails again, every other run is found and skipped
    assert {p: p.stat().st_mtime_ns for p in find_records(out)} == first


def write_marked(target: Path, name: str, go: multiprocessing.synchronize.Event) -> None:
    go.wait()
    with staged_folder(target, complete=lambda f: (f / "done").is_file()) as scratch:
        (scratch / "payload").write_text(name * 1000)
        time.sleep(0.01)
        (scratch / "done").write_text(name)


def test_racing_cache_writers_leave_one_whole_folder(tmp_path):
    target, go = tmp_path / "cache" / "thing", multiprocessing.Event()
    writers = [multiprocessing.Process(target=write_marked, args=(target, str(i), go)) for i in range(6)]
    for w in writers:
        w.start()
    go.set()
    for w in writers:
        w.join(timeout=30)
    assert all(w.exitcode == 0 for w in writers)
    winner = (target / "done").read_text()
    assert (target / "payload").read_text() == winner * 1000  # both files from the same writer
    assert os.listdir(target.parent) == ["thing"]  # every loser's scratch copy is gone


def test_a_failed_build_leaves_nothing_and_a_stale_folder_is_replaced(tmp_path):
    target = tmp_path / "thing"
    with pytest.raises(RuntimeError), staged_folder(target, complete=lambda f: (f / "done").is_file()) as scratch:
        (scratch / "payload").write_text("half")
        raise RuntimeError("interrupted")
    assert not tmp_path.exists() or os.listdir(tmp_path) == []
    target.mkdir(parents=True)
    (target / "payload").write_text("left by an older writer that was interrupted")
    with staged_folder(target, complete=lambda f: (f / "done").is_file()) as scratch:
        (scratch / "done").write_text("whole")
    assert sorted(os.listdir(tmp_path)) == ["thing"] and sorted(os.listdir(target)) == ["done"]


def test_a_killed_writers_scratch_folder_is_removed_by_the_next_one(tmp_path):
    """kill -9 leaves a scratch folder behind; the next writer of that target deletes it, but
    never a live writer's."""
    import socket
    import subprocess

    target = tmp_path / "thing"
    host = socket.gethostname()
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / f".thing.{host}-{dead.pid}-aaaaaaaaaaaa.tmp"
    alive = tmp_path / f".thing.{host}-{os.getpid()}-bbbbbbbbbbbb.tmp"
    for folder in (orphan, alive):
        folder.mkdir()
    with staged_folder(target, complete=lambda f: (f / "done").is_file()) as scratch:
        assert scratch.name.startswith(f".thing.{host}-{os.getpid()}-")
        (scratch / "done").write_text("whole")
    assert sorted(os.listdir(tmp_path)) == sorted(["thing", alive.name])
