"""The board's rows: every validated submission's records, each marked full or partial and with
what its committed reproduction found, and each task's rows in ranking order.

A row run with `--limit` answered only some of its task's questions: its score estimates a
different (smaller, first-k) test set, so it may be submitted and shown, but it is never ranked
against full rows nor counted in the overview. Whether a row is full is judged against the
task's question count as this kmbench builds the task (the validator's own view), so a limit
that cut nothing counts as full.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from bench.board.reproduce import Reproduction, load_reproductions
from bench.board.validate import run_validation, submission_folders
from bench.core.metrics import stderr_column
from bench.report.directions import Directions
from bench.report.tables import load_table

NOT_REPRODUCED = "not reproduced"


def board_frame(submissions: Path, reproductions: Path) -> tuple[pd.DataFrame, list[str]]:
    """Rows of every valid submission, and the problems of the others (which are left out).

    `reproductions`: the folder of committed reproductions, `<submission id>.json` each.
    """
    frames, problems, accepted = [], [], {}
    found: dict[str, Reproduction] = {}
    questions: dict[str, int] = {}
    for folder in submission_folders(submissions):
        v = run_validation(folder, accepted)
        if v.problems:
            problems += v.problems
            continue
        frames.append(load_table(folder).assign(submission=folder.name))
        found.update(load_reproductions(reproductions / f"{folder.name}.json"))
        questions.update({task: len(facts.docs) for task, facts in v.tasks.items() if facts is not None})
    if not frames:
        return pd.DataFrame(), problems
    frame = pd.concat(frames, ignore_index=True)
    primary = frame.apply(lambda row: row[row["primary_metric"]], axis=1)
    primary_stderr = frame.apply(lambda row: row.get(stderr_column(row["primary_metric"])), axis=1)
    total = frame["write_seconds"] + frame["read_seconds"]
    frame = frame.assign(score=primary, score_stderr=primary_stderr, total_seconds=total)
    return with_board_columns(frame, questions, found), problems


def with_board_columns(
    frame: pd.DataFrame,
    questions: Mapping[str, int] | None = None,
    reproductions: Mapping[str, Reproduction] | None = None,
) -> pd.DataFrame:
    """The frame with `questions` (its task's full count), `partial`, `reproduced` (the cell)
    and `reproduced_ok`; a column already there is kept, so a hand-built frame may set them.

    Without a known count a row is taken as full: a frame built by hand says what it means.
    """
    if frame.empty:
        return frame
    questions, reproductions = questions or {}, reproductions or {}
    added: dict[str, pd.Series] = {}
    if "questions" not in frame:
        added["questions"] = pd.Series(
            [questions.get(t, n) for t, n in zip(frame["task"], frame["n_queries"], strict=True)], index=frame.index
        )
    count = added.get("questions", frame.get("questions"))
    if "partial" not in frame:
        added["partial"] = frame["n_queries"] < count
    run_ids = frame["run_id"] if "run_id" in frame else pd.Series([""] * len(frame), index=frame.index)
    found = [reproductions.get(str(rid)) for rid in run_ids]
    if "reproduced" not in frame:
        added["reproduced"] = pd.Series([r.cell() if r else NOT_REPRODUCED for r in found], index=frame.index)
    if "reproduced_ok" not in frame:
        ok = [bool(r and r.checked and not r.refused) for r in found]
        added["reproduced_ok"] = pd.Series(ok, index=frame.index)
    return frame.assign(**added)


def ranked(rows: pd.DataFrame, task: str, metric: str, directions: Directions) -> pd.DataFrame:
    """A task's rows in board order: full rows best score first with their `rank` (ties share
    the better rank: 1, 1, 3), then the partial rows, unranked (`rank` NaN)."""
    higher = directions.higher_is_better(task, metric)
    full, partial = rows[~rows["partial"]], rows[rows["partial"]]
    full = full.sort_values("score", ascending=not higher, kind="stable")
    rank = full["score"].round(9).rank(method="min", ascending=not higher)
    partial = partial.sort_values("score", ascending=not higher, kind="stable")
    return pd.concat([full.assign(rank=rank), partial.assign(rank=float("nan"))])


def rank_cell(row: pd.Series) -> str:
    """`3`, or `partial 3/36` for a row that answered only some of its task's questions."""
    if row["partial"]:
        return f"partial {int(row['n_queries'])}/{int(row['questions'])}"
    return "–" if pd.isna(row["rank"]) else str(int(row["rank"]))
