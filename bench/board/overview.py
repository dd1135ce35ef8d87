"""The board's overview: one row per model and memory over every task, by mean win rate.

Scores cannot be averaged across tasks: they are on different scales (exact match, ROUGE-L,
efficacy) and some are better lower. A win rate is on one scale and points one way on every
task, so it can be (HELM's mean win rate). On a task, a pair's win rate is the share of the
other model x memory pairs there that it beats on the task's primary metric, ties counting
half, each pair's seeds averaged first; the overview averages it over the tasks the pair has.
It is relative: it depends on which rows are compared, and a new submission changes it.
"""

from __future__ import annotations

import pandas as pd

from bench.report.directions import Directions
from bench.report.traits import with_traits

PAIR = ["model", "memory"]
COST_MEANS = ("write_seconds", "seconds_per_query", "context_tokens_per_query", "storage_bytes")


def aggregate_note(overview: pd.DataFrame, frame: pd.DataFrame) -> str:
    """What the overview's number is, why, and over which rows (plain text, for both boards)."""
    ranked = frame[frame["ranked_row"]]
    partial, pending = int(frame["partial"].sum()), int((~frame["partial"] & ~frame["ranked_row"]).sum())
    left_out = []
    if partial:
        left_out.append(f"{partial} partial row{'s' if partial != 1 else ''} (run with --limit)")
    if pending:
        left_out.append(f"{pending} pending row{'s' if pending != 1 else ''} (not yet reproduced in full by us)")
    shown = f" Left out here, shown unranked in their task's table: {' and '.join(left_out)}." if left_out else ""
    core_tasks = sorted(set(frame.loc[frame["core"], "task"])) if "core" in frame else []
    core = (
        f" A pair is ranked only with a ranked row on each core task ({', '.join(core_tasks)}), so no pair "
        "ranks by running only the tasks it wins."
        if core_tasks
        else ""
    )
    return (
        "Ranked by mean win rate: on each task, the share of the other model × memory pairs that a pair "
        "beats on the task's primary metric, in that metric's direction (ties count half; a pair's seeds "
        "are averaged first), then the mean over the tasks the pair has. Scores on different tasks are on "
        "different scales and some are better lower, so they cannot be averaged; a win rate can. It depends "
        f"on the set of rows compared: here {int(overview['win_rate'].notna().sum())} ranked model × memory pairs "
        f"({ranked['model'].nunique()} model{'s' if ranked['model'].nunique() != 1 else ''}) "
        f"over {ranked['task'].nunique()} tasks, ranked rows only (full and reproduced in full); a new "
        "submission changes it. Costs are means over the pair's full rows (one per task and seed)." + shown + core
    )


def task_win_rates(frame: pd.DataFrame, directions: Directions) -> pd.DataFrame:
    """(task, model, memory, win_rate) for every pair on a task with at least one rival pair, over ranked rows."""
    rows = []
    full = frame[frame["ranked_row"] & frame["score"].notna()]
    for task, on_task in full.groupby("task"):
        metric = on_task["primary_metric"].iloc[0]
        sign = 1.0 if directions.higher_is_better(str(task), metric) else -1.0
        means = sign * on_task.groupby(PAIR)["score"].mean().round(9)  # larger is better now
        if len(means) < 2:
            continue  # nothing to beat: the task says nothing about this pair's standing
        for pair, score in means.items():
            others = means.drop(pair)
            wins = (others < score).sum() + 0.5 * (others == score).sum()
            rows.append({"task": task, "model": pair[0], "memory": pair[1], "win_rate": wins / len(others)})
    return pd.DataFrame(rows, columns=["task", *PAIR, "win_rate"])


def overview_frame(frame: pd.DataFrame, directions: Directions) -> pd.DataFrame:
    """One row per model x memory with a full row: mean win rate over its ranked rows, tasks
    covered (of the board's), rows reproduced in full, and mean costs; best first, then the
    pairs without a win rate (nothing ranked yet, or no rival anywhere), unranked."""
    full = with_traits(frame[~frame["partial"]])
    if full.empty:
        return pd.DataFrame(columns=[*PAIR, "win_rate", "tasks", "rows", "reproduced_rows", *COST_MEANS])
    rates = task_win_rates(frame, directions).groupby(PAIR)["win_rate"].mean()
    grouped = full.groupby(PAIR)
    out = grouped[list(COST_MEANS)].mean()
    ranked_rows = full[full["ranked_row"]]
    ranked_tasks = ranked_rows.groupby(PAIR)["task"].nunique()
    core = set(frame.loc[frame["core"], "task"]) if "core" in frame else set()
    core_done = ranked_rows[ranked_rows["task"].isin(core)].groupby(PAIR)["task"].nunique()
    core_done = core_done.reindex(out.index).fillna(0).astype(int)
    out = out.assign(
        win_rate=rates.reindex(out.index).where(core_done == len(core)),  # ranked only over the whole core
        core_tasks=core_done,
        board_core=len(core),
        tasks=ranked_tasks.reindex(out.index).fillna(0).astype(int),
        board_tasks=frame["task"].nunique(),
        rows=grouped.size(),
        reproduced_rows=grouped["reproduced_ok"].sum().astype(int),
        partial_rows=frame[frame["partial"]].groupby(PAIR).size().reindex(out.index).fillna(0).astype(int),
        memory_order=grouped["memory_order"].min(),
    ).reset_index()
    out = out.sort_values(["win_rate", "model", "memory_order", "memory"], ascending=[False, True, True, True])
    return out.assign(rank=out["win_rate"].round(9).rank(method="min", ascending=False)).reset_index(drop=True)


def tasks_cell(row: pd.Series) -> str:
    """`5/11`: tasks with a ranked row of the board's tasks; `core 3/4` when the pair lacks a core
    task (so it is not ranked); `(+1 partial)` rows left out."""
    partial = int(row.get("partial_rows", 0))
    core, of = int(row.get("core_tasks", 0)), int(row.get("board_core", 0))
    short = f", core {core}/{of}" if core < of else ""
    return f"{int(row['tasks'])}/{int(row['board_tasks'])}{short}" + (f" (+{partial} partial)" if partial else "")


def win_rate_cell(row: pd.Series) -> str:
    """The mean win rate; why a pair has none: nothing reproduced in full yet, or a core task missing."""
    if pd.isna(row["win_rate"]):
        if int(row["reproduced_rows"]) == 0:
            return "pending"
        return "unranked" if int(row.get("core_tasks", 0)) < int(row.get("board_core", 0)) else "–"
    return f"{100 * row['win_rate']:.1f}"


def reproduced_cell(row: pd.Series) -> str:
    return f"{int(row['reproduced_rows'])}/{int(row['rows'])} rows reproduced in full"
