"""Where a sweep's runs execute: here, one after another (the default), or as Ray actors on a cluster.

Both make the same records: a run is keyed by `bench.run.runner.run_id`, skipped when its record
exists and saved atomically into the shared `out` folder, so a rerun or a retried worker never
writes a record twice or half. On Ray, each (model, resources) pair gets a pool of actors; an
actor loads its model once and takes runs one at a time until its pool's queue is empty, then it
is killed so its CPUs and GPUs go to the next pool. A worker that dies mid-run (SIGKILL, out of
memory, a lost node) is restarted and its run retried by Ray; a run that raises is reported in one
line and the sweep goes on. `ray` is imported only here and only when the Ray executor is chosen.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import bench.run.runner as runner
from bench.core.config import check
from bench.core.errors import UserError
from bench.core.memory import LoadedModel
from bench.model.loading import load_model
from bench.run.record import RunRecord
from bench.run.runner import RunSettings, Shared, plan

EXECUTORS = ("in-process", "ray")
# Passed on to Ray workers, which may have been started from another shell: the same cache and hub settings.
FORWARDED_ENV = ("KMBENCH_CACHE", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME")


@dataclass(frozen=True)
class Resources:
    """What one run of a memory entry asks of the cluster (Ray's `num_cpus` / `num_gpus`; fractions allowed)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0

    def __post_init__(self) -> None:
        for name in ("num_cpus", "num_gpus"):
            value = getattr(self, name)
            check(isinstance(value, (int, float)) and not isinstance(value, bool), f"{name} must be a number")
            check(value >= 0, f"{name} must be >= 0")


@dataclass(frozen=True)
class Cell:
    """One run, as a worker needs it: the settings, one task and one memory config (validated by the driver)."""

    settings: RunSettings
    task: str
    memory: str
    config: Mapping[str, Any]
    label: str  # for the progress line and failure reports
    resources: Resources = Resources()
    command: str = "kmbench sweep"

    def describe(self) -> str:
        """Which run this is, for a person reading a failure line."""
        s = self.settings
        return f"{self.task} / {self.label} (model {s.model}, seed {s.seed}, budget {s.context_budget})"


@dataclass(frozen=True)
class SweepResult:
    """The records of every run that has one (old and new), and one line per run that failed."""

    records: list[RunRecord]
    failures: list[str] = field(default_factory=list)


class RunWorker:
    """What a worker keeps from run to run: loaded models and the base model's probe answers (`Shared`),
    so a pool pays for a model load once, as `execute` does for a group of runs."""

    def __init__(self, cwd: str | None = None) -> None:
        if cwd and Path(cwd).is_dir():  # relative model folders and task paths mean what they meant to the driver
            os.chdir(cwd)
        for name in ("lm_eval", "lm-eval", "transformers", "sentence_transformers", "datasets", "peft"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self.models: dict[tuple[str, bool, str], LoadedModel] = {}
        self.shared: dict[RunSettings, Shared] = {}

    def ready(self) -> int:
        """Answered once the actor is placed and started: only then is it given runs."""
        return os.getpid()

    def model(self, name: str, chat_template: bool = False, answer_turn: str = "assistant") -> LoadedModel:
        """The model, loaded on first use and kept."""
        key = (name, chat_template, answer_turn)
        if key not in self.models:
            self.models[key] = load_model(name, chat_template=chat_template, answer_turn=answer_turn)
        return self.models[key]

    def run(self, cell: Cell) -> RunRecord:
        """One run exactly as `runner.execute` makes it: same id, same skip rule, same atomic save."""
        s = cell.settings
        p = plan(s, [cell.task], [(cell.memory, cell.config)])
        spec, memory = p.tasks[0], p.memories[0]
        lm = self.model(s.model, s.chat_template, s.answer_turn)
        shared = self.shared.setdefault(s, Shared())
        if s.judge and spec.judged and shared.judge is None:  # the runner's judge, endpoint included
            shared.judge = runner.make_judge(s, lm, self.model)
        try:
            return runner.run_or_load(lm, p, spec, memory, cell.command, shared)
        except BaseException:  # a run that broke off (mid-training, say) may leave the model altered: reload it
            self.models.clear()
            self.shared.clear()
            raise


def import_ray() -> Any:
    """The `ray` module, or the one-line error that says how to get it."""
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'kmbench[ray]' (or pip install ray)") from None
    return ray


def slots(nodes: Sequence[Mapping[str, Any]], need: Resources) -> int:
    """How many runs of this size the cluster's live nodes can hold at once (a run fits on one node)."""
    total = 0
    for node in nodes:
        if not node.get("Alive"):
            continue
        have = node.get("Resources", {})
        asks = [(have.get("CPU", 0.0), need.num_cpus), (have.get("GPU", 0.0), need.num_gpus)]
        fits = [int(got // want) for got, want in asks if want > 0]
        total += min(fits) if fits else int(have.get("CPU", 1))
    return total


@dataclass
class Pool:
    """The runs (cell indexes) of one (model, resources) pair still to hand out, and how many actors serve them."""

    resources: Resources
    queue: deque[int]
    actors: int = 0


def worker_env(resources: Resources) -> dict[str, str]:
    """The driver's cache settings; no progress bars in workers (the driver's counts runs); and no GPU
    visible to a run that did not ask for one, so it cannot crowd a GPU that Ray gave to another."""
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env.update(TQDM_DISABLE="1", TOKENIZERS_PARALLELISM="false")
    if resources.num_gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def one_line(exc: BaseException, retries: int) -> str:
    """A Ray error as one readable line: the run's own exception, or what happened to its worker."""
    from ray.exceptions import RayActorError, RayTaskError

    if isinstance(exc, RayActorError):
        return f"its worker died (killed, out of memory or node lost) and was retried {retries} times"
    cause = exc.cause if isinstance(exc, RayTaskError) and exc.cause is not None else exc
    return f"{type(cause).__name__}: {first_line(cause)}".rstrip(": ")


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def run_on_ray(cells: Sequence[Cell], address: str | None = None, retries: int = 3, desc: str = "sweep") -> SweepResult:
    """Every cell as a call on an actor of its pool; records back in cell order, failures in one line each."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:  # None: RAY_ADDRESS, else a cluster started on this machine with `ray start`, else a local one
        ray.init(address=address)
    try:
        return Scheduler(ray, cells, retries, desc).run()
    finally:
        if started:
            ray.shutdown()


class Scheduler:
    """Feeds each placed actor one run at a time and retires it when its pool has no runs left."""

    def __init__(self, ray: Any, cells: Sequence[Cell], retries: int, desc: str) -> None:
        self.ray, self.cells, self.retries = ray, list(cells), retries
        self.actor_class = ray.remote(RunWorker)
        self.inflight: dict[Any, tuple[Pool, Any, int | None]] = {}  # ref -> (pool, actor, cell index or None)
        self.records: dict[int, RunRecord] = {}
        self.failures: dict[int, str] = {}
        self.bar = tqdm(total=len(self.cells), desc=desc, unit="run")

    def run(self) -> SweepResult:
        """Start every pool's actors (as many as fit on the cluster), then settle answers until none is left."""
        pools: dict[tuple, Pool] = {}
        for i, cell in enumerate(self.cells):
            key = (cell.settings.model, cell.settings.chat_template, cell.settings.answer_turn, cell.resources)
            pools.setdefault(key, Pool(cell.resources, deque())).queue.append(i)
        nodes = self.ray.nodes()
        with self.bar:
            for pool in pools.values():
                room = min(slots(nodes, pool.resources), len(pool.queue))
                if room == 0:
                    self.fail_all(pool, f"asks for {pool.resources}, more than any node of the cluster has")
                for _ in range(room):
                    self.start(pool)
            while self.inflight:
                [ref], _ = self.ray.wait(list(self.inflight), num_returns=1)
                self.settle(ref)
        done = range(len(self.cells))
        return SweepResult(
            [self.records[i] for i in done if i in self.records], [self.failures[i] for i in done if i in self.failures]
        )

    def start(self, pool: Pool) -> None:
        """A new actor for the pool; it gets runs once `ready` answers (it may wait for room on the cluster)."""
        actor = self.actor_class.options(
            num_cpus=pool.resources.num_cpus,
            num_gpus=pool.resources.num_gpus,
            max_restarts=self.retries,
            max_task_retries=self.retries,
            runtime_env={"env_vars": worker_env(pool.resources)},
        ).remote(os.getcwd())
        pool.actors += 1
        self.inflight[actor.ready.remote()] = (pool, actor, None)

    def settle(self, ref: Any) -> None:
        """Take one answer: keep the record or report the failure, then give the actor its next run."""
        from ray.exceptions import RayActorError, RayError

        pool, actor, index = self.inflight.pop(ref)
        try:
            value = self.ray.get(ref)
        except RayActorError as exc:  # the actor is gone for good: its retries are spent, or it never started
            pool.actors -= 1
            if index is not None:
                self.fail(index, one_line(exc, self.retries))
                if pool.queue and pool.actors == 0:
                    self.start(pool)  # a fresh actor for the rest of the pool, with retries of its own
            elif pool.actors == 0:
                self.fail_all(pool, f"no worker could start: {first_line(exc)}")
            return
        except RayError as exc:  # the run raised: reported, and the actor takes the next run
            if index is not None:
                self.fail(index, one_line(exc, self.retries))
        else:
            if index is not None:
                self.records[index] = value
                self.bar.update(1)
        self.feed(pool, actor)

    def feed(self, pool: Pool, actor: Any) -> None:
        """The actor's next run; with none left, the actor and any still waiting to start are released."""
        if pool.queue:
            index = pool.queue.popleft()
            self.inflight[actor.run.remote(self.cells[index])] = (pool, actor, index)
            return
        self.ray.kill(actor)
        pool.actors -= 1
        for ref, (other, waiting, index) in list(self.inflight.items()):
            if other is pool and index is None:
                self.ray.kill(waiting)
                pool.actors -= 1
                del self.inflight[ref]

    def fail(self, index: int, why: str) -> None:
        """One line for the run, and the sweep goes on."""
        self.failures[index] = f"{self.cells[index].describe()}: {why}"
        tqdm.write(f"kmbench: run failed: {self.failures[index]}", file=sys.stderr)
        self.bar.update(1)

    def fail_all(self, pool: Pool, why: str) -> None:
        while pool.queue:
            self.fail(pool.queue.popleft(), why)
