"""The board's rows: every validated submission's records, each marked full or partial, with
what its committed reproduction found, and each task's rows in ranking order.

Two kinds of row are shown but never ranked nor counted in the overview:
- *partial*: run with `--limit`, it answered only some of its task's questions, so its score
  estimates a different (smaller, first-k) test set. Whether a row is full is judged against the
  task's question count as this kmbench builds the task (the validator's own view), so a limit
  that cut nothing counts as full.
- *pending*: not yet reproduced in full by CI or a maintainer (`Reproduction.in_full`). A
  submitter's numbers are ranked only once we have rerun every question and the probe.
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

NOT_REPRODUCED = "pending: not reproduced yet"


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
    frame = frame.assign(core=frame["task"].isin(core_tasks()))
    primary = frame.apply(lambda row: row[row["primary_metric"]], axis=1)
    primary_stderr = frame.apply(lambda row: row.get(stderr_column(row["primary_metric"])), axis=1)
    total = frame["write_seconds"] + frame["read_seconds"]
    frame = frame.assign(score=primary, score_stderr=primary_stderr, total_seconds=total)
    return with_board_columns(frame, questions, found), problems


def core_tasks() -> list[str]:
    """The tasks tagged as core (tasks/roles.yaml): a pair must have a ranked row on each to be ranked."""
    from bench.harness.roles import task_roles
    from bench.harness.taskspec import expand_tasks
    from bench.report.directions import default_manager

    return expand_tasks(default_manager(), [task_roles().core_tag])


def with_board_columns(
    frame: pd.DataFrame,
    questions: Mapping[str, int] | None = None,
    reproductions: Mapping[str, Reproduction] | None = None,
) -> pd.DataFrame:
    """The frame with `questions` (its task's full count), `partial`, `reproduced` (the cell),
    `reproduced_ok` (reproduced in full) and `ranked_row` (full and reproduced in full); a column
    already there is kept, so a hand-built frame may set them.

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
    probed = frame["probed"] if "probed" in frame else pd.Series([False] * len(frame), index=frame.index)
    rows = list(zip(found, frame["n_queries"].astype(int), probed.astype(bool), strict=True))
    if "reproduced" not in frame:
        cells = [r.board_cell(n, p) if r else NOT_REPRODUCED for r, n, p in rows]
        added["reproduced"] = pd.Series(cells, index=frame.index)
    if "reproduced_ok" not in frame:
        added["reproduced_ok"] = pd.Series([bool(r and r.in_full(n, p)) for r, n, p in rows], index=frame.index)
    frame = frame.assign(**added)
    if "oracle" in frame and frame["oracle"].any():  # named as what it is, and never ranked
        oracle = frame["oracle"].fillna(False).astype(bool) & ~frame["memory"].astype(str).str.endswith(" [oracle]")
        frame = frame.assign(memory=frame["memory"].where(~oracle, frame["memory"].astype(str) + " [oracle]"))
    if "ranked_row" not in frame:
        oracle = frame["oracle"].fillna(False).astype(bool) if "oracle" in frame else False
        frame = frame.assign(ranked_row=~frame["partial"] & frame["reproduced_ok"] & ~oracle)
    return frame


def ranked(rows: pd.DataFrame, task: str, metric: str, directions: Directions) -> pd.DataFrame:
    """A task's rows in board order: ranked rows best score first with their `rank` (ties share
    the better rank: 1, 1, 3), then the pending and partial rows, unranked (`rank` NaN)."""
    higher = directions.higher_is_better(task, metric)
    ranks, unranked = rows[rows["ranked_row"]], rows[~rows["ranked_row"]]
    ranks = ranks.sort_values("score", ascending=not higher, kind="stable")
    rank = ranks["score"].round(9).rank(method="min", ascending=not higher)
    unranked = unranked.sort_values(["partial", "score"], ascending=[True, not higher], kind="stable")
    return pd.concat([ranks.assign(rank=rank), unranked.assign(rank=float("nan"))])


def rank_cell(row: pd.Series) -> str:
    """`3`; `partial 3/36` for a row that answered only some of its task's questions; `upper
    bound` for oracle routing (it reads the gold document); `pending` for a full row not yet
    reproduced in full."""
    if row["partial"]:
        return f"partial {int(row['n_queries'])}/{int(row['questions'])}"
    if row.get("oracle") is True:
        return "upper bound"
    if not row.get("ranked_row", True):
        return "pending"
    return "–" if pd.isna(row["rank"]) else str(int(row["rank"]))
