"""README tables generated from committed records, so no result in the README is typed by hand.

A block in the README names the records it shows:

    <!-- kmbench:table leaderboard/reference/bench -->   the report's per-task tables
    <!-- kmbench:summary leaderboard/submissions/x -->   one row per task, one column per memory
    <!-- kmbench:depth leaderboard/reference/depth -->   each memory's score at each depth level
    <!-- kmbench:breakeven leaderboard/reference/bench -->   when each memory pays off (write + n x read)
    <!-- kmbench:sham leaderboard/reference/controls -->   each memory's gain over its sham control
    <!-- kmbench:updates leaderboard/reference/updates -->   how each memory took a changed book
    <!-- kmbench:perf leaderboard/reference/perf.json -->  a `make perf` JSON's table
    <!-- kmbench:selection leaderboard/reference/selection/defaults.json -->  how the defaults were chosen
    <!-- kmbench:memories baselines -->  every memory's config fields, from the config classes
    ...generated text...
    <!-- /kmbench -->

`kmbench readme` rewrites every block of the README, CONTRIBUTING.md and docs/ from its records;
`kmbench readme --check` (and a test) fails when a page and its records disagree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from bench.core.errors import UserError
from bench.core.metrics import stderr_column
from bench.report.breakeven import breakeven_markdown
from bench.report.depth import depth_markdown
from bench.report.perf import perf_table
from bench.report.selection import load_selection_record, selection_markdown
from bench.report.sham import sham_markdown
from bench.report.tables import by_task, load_table, markdown_table, retention_cell
from bench.report.updates import updates_markdown
from bench.run.memories import memory_reference

KINDS = "table|summary|depth|breakeven|sham|updates|perf|selection|memories"
BLOCK = re.compile(rf"(<!-- kmbench:({KINDS}) (\S+) -->\n)(.*?)(<!-- /kmbench -->)", re.S)


def summary_table(frame: pd.DataFrame) -> str:
    """Each task's primary score (%, ± standard error) per memory, then LoRA-like rows' cost:
    the compact view of a submission (memories in their traits' order, mean over seeds). A run
    limited to the first questions says how many (`on 8 q`): it is not the task's score."""
    memories = frame.sort_values("memory_order")["memory"].unique().tolist()
    trained = frame[frame["trainable_params"] > 0]
    lines = [
        "| task (metric) | " + " | ".join(f"`{m}`" for m in memories) + " | training s | retention |",
        "|---|" + "---|" * (len(memories) + 2),
    ]
    for task, rows in by_task(frame):
        metric = rows["primary_metric"].iloc[0]
        cells = []
        for memory in memories:
            mine = rows[rows["memory"] == memory]
            value, stderr = mine[metric].mean(), mine[stderr_column(metric)].mean() if len(mine) else None
            shown = "–" if mine.empty or pd.isna(value) else f"{100 * value:.1f}"
            cells.append(shown + (f" ± {100 * stderr:.1f}" if shown != "–" and stderr and not pd.isna(stderr) else ""))
            limits = mine["limit"].dropna()  # every flattened record has the column
            if shown != "–" and not limits.empty:
                cells[-1] += f" (on {int(limits.max())} q)"
        mine = trained[trained["task"] == task]
        seconds = "–" if mine.empty else ", ".join(f"{s:.0f}" for s in mine["write_seconds"])
        retention = "–" if mine.empty else ", ".join(retention_cell(x) for x in mine["retention"])
        lines.append(f"| {task} ({metric}) | " + " | ".join(cells) + f" | {seconds} | {retention} |")
    return "\n".join(lines) + "\n"


def render(kind: str, source: str, root: Path) -> str:
    if kind == "memories":  # from the code, not from records
        return memory_reference()
    if kind == "selection":  # a `kmbench select` record, one JSON file
        return selection_markdown(load_selection_record(root / source))
    if kind == "perf":
        path = root / source
        if not path.is_file():
            raise UserError(f"README block names {source}, which is not a `make perf` JSON file")
        return perf_table(json.loads(path.read_text()))
    folder = root / source
    if not folder.is_dir():
        raise UserError(f"README block names {source}, which is not a folder of records")
    frame = load_table(folder)
    if kind == "depth":
        return depth_markdown(frame)
    if kind == "breakeven":
        return breakeven_markdown(frame)
    if kind == "sham":
        return sham_markdown(frame)
    if kind == "updates":
        return updates_markdown(frame)
    return markdown_table(frame) if kind == "table" else summary_table(frame)


def documents(root: Path) -> list[Path]:
    """Every page that may hold generated blocks: the README, CONTRIBUTING and the docs."""
    return [root / "README.md", root / "CONTRIBUTING.md", *sorted((root / "docs").rglob("*.md"))]


def refresh(text: str, root: Path) -> str:
    """The README with every block regenerated from the records it names."""
    return BLOCK.sub(lambda m: m.group(1) + render(m.group(2), m.group(3), root) + m.group(5), text)


def stale_blocks(text: str, root: Path) -> list[str]:
    """The record folders whose block in the README no longer matches them."""
    return [m.group(3) for m in BLOCK.finditer(text) if render(m.group(2), m.group(3), root) != m.group(4)]
