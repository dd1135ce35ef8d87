"""The one path that evaluates a memory: seed, write (and, on an update task, update), check that
the adapters on the model are those the memory says it installed, read the task through lm-eval,
ask the retention probe, take the adapters out. A run (`bench.run.runner`) and a reproduction
(`bench.board.reproduce`) both go through it, so a rerun reads exactly as the run did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.answer.lm import MemoryLM, ReadLog, evaluate
from bench.answer.reader import Reader
from bench.core.memory import Corpus, Footprint, LoadedModel, Memory
from bench.model.adapters import MERGES, bare_model, loaded_adapters
from bench.model.cost import PeakMemory
from bench.run.memories import make_memory
from bench.run.retention import ask_probe


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation gave: lm-eval's results, what each read cost, and the probe's answers
    with the memory on (None when not asked). On an update task, `written` is what writing the
    book's first version cost and `update` what taking the new version cost (None elsewhere)."""

    results: dict[str, Any]
    log: ReadLog
    write_cost: PeakMemory
    read_cost: PeakMemory
    probe: tuple[list[str], list[float], str] | None
    written: Footprint | None = None
    update: Update | None = None


@dataclass(frozen=True)
class Update:
    """What an update cost: the memory's own account, and the clock and memory around it."""

    footprint: Footprint
    measured: PeakMemory

    @property
    def seconds(self) -> float:
        """The memory's own seconds where it knows them (a cached adapter: what training took), else the clock's."""
        return self.footprint.write_seconds if self.footprint.write_seconds is not None else self.measured.seconds


@dataclass(frozen=True)
class Reading:
    """How a memory is read: the settings a run records and a rerun repeats."""

    seed: int
    batch_size: int
    limit: int | None = None
    context_budget: int | None = None
    bootstrap_iters: int = 0
    questions: tuple[int, ...] | None = None  # only these questions (lm-eval doc ids), as perf spreads them


def evaluate_memory(
    lm: LoadedModel,
    memory: Memory,
    corpus: Corpus,
    task: str,
    manager: Any,
    how: Reading,
    probe: bool,
    previous: Corpus | None = None,
) -> Evaluation:
    """Write `memory` from `corpus` on the bare model, read `task` through it, and (with `probe`)
    ask the retention probe with its adapters on; whatever happens, the model is bare after.
    With `previous` (an update task's old book), the memory writes that first and then, from the
    bare model again, takes `corpus` as an update, so the task asks what it answers after the change."""
    import transformers

    memory_lm = MemoryLM(memory, Reader(lm, how.batch_size), how.context_budget)

    def read(write_cost: PeakMemory, written: Footprint | None = None, update: Update | None = None) -> Evaluation:
        transformers.set_seed(how.seed)
        with PeakMemory() as read_cost:
            chosen = {"samples": {task: list(how.questions)}} if how.questions is not None else {"limit": how.limit}
            results = evaluate(memory_lm, task, manager, how.seed, bootstrap_iters=how.bootstrap_iters, **chosen)
        asked = ask_probe(memory, Reader(lm, how.batch_size), manager, how.seed) if probe else None
        return Evaluation(results, memory_lm.log, write_cost, read_cost, asked, written, update)

    with bare_model(lm):
        transformers.set_seed(how.seed)
        with PeakMemory() as write_cost:
            memory.write(previous or corpus, lm)
        check_installed(memory, lm)
        if previous is None:
            return read(write_cost)
        written = memory.footprint()
    with bare_model(lm):  # an update starts from the bare model, as a write does, and installs what it recalls
        transformers.set_seed(how.seed)
        with PeakMemory() as update_cost:
            changed = memory.update(previous, corpus, lm)
        check_installed(memory, lm)
        return read(write_cost, written, Update(changed, update_cost))


def check_installed(memory: Memory, lm: LoadedModel) -> None:
    """The adapters on the model are the ones the memory says it installed (and merges of them):
    what `bare_model` takes out at the end is then exactly what the write put in."""
    loaded, installed = set(loaded_adapters(lm)), set(memory.installed())
    stray = sorted(a for a in loaded - installed if not any(a.startswith(f"{m}-") for m in MERGES))
    if installed - loaded or stray:
        raise RuntimeError(
            f"memory {memory.name} says it installed {sorted(installed)}, but the model holds {sorted(loaded)}"
        )


def base_probe(lm: LoadedModel, manager: Any, how: Reading) -> tuple[list[str], list[float], str]:
    """The probe asked of the base model (the closed book recalls no adapters): retention's reference."""
    return ask_probe(make_memory("none", {}, how.seed), Reader(lm, how.batch_size), manager, how.seed)
