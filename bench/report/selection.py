"""The selection record: which config won each memory's defaults, on which held-out data, by which rule.

`kmbench select` (`bench.study.select`) writes it; the README's `kmbench:selection` block shows it;
a test holds the code's defaults to it. Only this module knows its JSON shape, and the rule that
picks a winner lives here too, so anyone holding the record can check that it follows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from bench.core.config import check
from bench.core.errors import UserError
from bench.run.record import LOWER_IS_BETTER, Cost

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Rule:
    """The highest mean primary metric over a memory's held-out tasks wins; scores within `tolerance` of the
    best tie, and a tie goes to the lowest cost (these record cost columns, summed over those tasks), then to
    the earlier candidate in the file. The default cost is estimated FLOPs, which unlike seconds
    do not depend on what else the machine was doing."""

    cost: tuple[str, ...] = ("write_flops", "read_flops")
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        check(bool(self.cost), "rule.cost names at least one cost column")
        known = sorted(LOWER_IS_BETTER - {f.name for f in fields(Cost) if f.name.endswith("_mb")})
        unknown = [c for c in self.cost if c not in known]
        check(not unknown, f"rule.cost: unknown column(s) {', '.join(unknown)}; known: {', '.join(known)}")
        check(self.tolerance >= 0, "rule.tolerance must be >= 0")

    def describe(self) -> str:
        """The rule in one sentence, stored beside it so the record reads without this code."""
        within = f"within {self.tolerance:g} of the best" if self.tolerance else "equal to the best"
        return (
            "highest mean primary metric over the memory's held-out tasks; candidates "
            f"{within} go to the lowest {' + '.join(self.cost)} (summed over those tasks), then to the earlier one"
        )


@dataclass(frozen=True)
class HeldOutTask:
    """A task the candidates ran on, named by its corpus hash, so the record says exactly which data chose."""

    name: str
    version: str
    corpus_sha256: str
    n_documents: int
    n_queries: int
    primary_metric: str


@dataclass(frozen=True)
class Candidate:
    """One config of a memory's grid: its score on each held-out task and what it cost."""

    knobs: dict[str, Any]  # the grid's fields and this candidate's values
    config: dict[str, Any]  # the full config the runs used (seed left out)
    scores: dict[str, float]  # task -> primary metric, mean over seeds
    score: float  # mean of `scores`: what the rule ranks
    cost: float  # the rule's cost columns, summed over the tasks (mean over seeds)
    run_ids: list[str]


@dataclass(frozen=True)
class MemorySelection:
    """A memory's candidates in file order and the knobs of the one the rule chose."""

    memory: str
    knobs: list[str]  # empty: the memory has nothing to choose; its one candidate is its config
    tasks: list[str]  # the held-out tasks its candidates ran on
    candidates: list[Candidate]
    winner: dict[str, Any]

    def chosen(self) -> Candidate:
        """The winning candidate (the first whose knobs are the winner's)."""
        return next(c for c in self.candidates if c.knobs == self.winner)


@dataclass(frozen=True)
class SelectionRecord:
    """Everything one `kmbench select` decided, with the commit and command that decided it."""

    created_at: str
    git_sha: str | None
    git_dirty: bool | None
    command: str
    selection_file: str
    model: str
    model_id: str
    rule: Rule
    rule_text: str
    tasks: list[HeldOutTask]
    memories: list[MemorySelection]
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        """Stable (sorted, indented) JSON, so a rerun that changes nothing diffs only in its date and commit."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def memory(self, name: str) -> MemorySelection | None:
        """The selection of one memory, or None when the record has none for it."""
        return next((m for m in self.memories if m.memory == name), None)


def winner_of(candidates: list[Candidate], rule: Rule) -> Candidate:
    """The candidate `rule` chooses (see `Rule`)."""
    if not candidates:
        raise UserError("a memory with no candidates has no winner")
    best = max(c.score for c in candidates)
    tied = [c for c in candidates if c.score >= best - rule.tolerance - 1e-12]
    return min(tied, key=lambda c: c.cost)  # min keeps the first of equal costs: file order


def load_selection_record(path: Path) -> SelectionRecord:
    """Read a selection record; anything else becomes a `UserError` naming the file."""
    try:
        data = json.loads(path.read_text())
        if data.get("schema_version") != SCHEMA_VERSION:
            raise UserError(f"{path}: selection record version {data.get('schema_version')}, this kmbench reads v1")
        return SelectionRecord(
            **{
                **data,
                "rule": Rule(tuple(data["rule"]["cost"]), data["rule"]["tolerance"]),
                "tasks": [HeldOutTask(**t) for t in data["tasks"]],
                "memories": [
                    MemorySelection(**{**m, "candidates": [Candidate(**c) for c in m["candidates"]]})
                    for m in data["memories"]
                ],
            }
        )
    except OSError as exc:
        raise UserError(f"cannot read selection record {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: not a KMBench selection record ({exc})") from None


def knobs_label(knobs: dict[str, Any]) -> str:
    """`top_k=2, lr=0.001`; strings quoted, so an empty one shows."""
    shown = [
        f"{k}={v!r}" if isinstance(v, str) else f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in knobs.items()
    ]
    return ", ".join(shown) or "(no knobs)"


def selection_markdown(record: SelectionRecord) -> str:
    """The README's view: every candidate's held-out scores and cost, the chosen one marked."""
    sha = (record.git_sha or "unknown")[:7] + (" (with uncommitted changes)" if record.git_dirty else "")
    tasks = ", ".join(f"`{t.name}` ({t.n_queries} questions, corpus `{t.corpus_sha256[:12]}`)" for t in record.tasks)
    columns = " | ".join(f"{t.name} {t.primary_metric} %" for t in record.tasks)
    lines = [
        f"Model `{record.model}`, commit `{sha}`, `{record.command}`. Held-out tasks: {tasks}.",
        f"Rule: {record.rule_text}.",
        "",
        f"| memory | candidate | {columns} | mean % | {' + '.join(record.rule.cost)} | chosen |",
        "|---|---|" + "---|" * len(record.tasks) + "---|---|---|",
    ]
    for selection in record.memories:
        for c in selection.candidates:
            scores = " | ".join(f"{100 * c.scores[t.name]:.1f}" if t.name in c.scores else "–" for t in record.tasks)
            chosen = "**yes**" if c.knobs == selection.winner else ""
            cells = f"`{selection.memory}` | {knobs_label(c.knobs)} | {scores} | {100 * c.score:.1f} | {c.cost:.3g}"
            lines.append(f"| {cells} | {chosen} |")
    return "\n".join(lines) + "\n"
