"""`kmbench report`: every table and plot of a folder of records, in one place, so the modules it
composes (tables, plots, break-even, sham gains, updates, depth) stay leaves that import none of it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.harness.taskspec import task_manager
from bench.report.breakeven import breakeven_markdown, plot_breakeven
from bench.report.depth import depth_markdown, plot_depth
from bench.report.directions import default_manager, directions_for
from bench.report.plots import plot_accuracy_vs_context, plot_accuracy_vs_write_cost
from bench.report.sham import sham_markdown
from bench.report.tables import load_table, markdown_table
from bench.report.updates import updates_markdown


def write_report(records_root: Path, reports_dir: Path, include_paths: Sequence[Path] = ()) -> str:
    """Write results.csv, results.md and the plots; breakeven.md and .png (when each memory pays
    off, `bench.report.breakeven`); sham.md (each memory's gain over its sham control,
    `bench.report.sham`); updates.md (how each memory took a changed book,
    `bench.report.updates`); depth.md and .png where a corpus is asked at several levels
    (`bench.report.depth`). Return the Markdown for the terminal. `include_paths`: task folders
    beyond KMBench's own, as the run was given, so their tasks' directions are found."""

    frame = load_table(records_root)
    # one task index for the metrics' directions and the sham pairs
    manager = task_manager(list(include_paths)) if include_paths else default_manager()
    directions = directions_for(frame["task"].unique(), manager)
    reports_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(reports_dir / "results.csv", index=False)
    text = markdown_table(frame, directions)
    (reports_dir / "results.md").write_text(text)
    plot_accuracy_vs_context(frame, reports_dir / "accuracy_vs_context.png", directions)
    plot_accuracy_vs_write_cost(frame, reports_dir / "accuracy_vs_write_cost.png", directions)
    breakeven = breakeven_markdown(frame, directions)
    if breakeven:
        (reports_dir / "breakeven.md").write_text(breakeven)
        plot_breakeven(frame, reports_dir / "breakeven.png")
        text += "\n" + breakeven
    sham = sham_markdown(frame, manager)
    if sham:
        (reports_dir / "sham.md").write_text(sham)
        text += "\n" + sham
    updates = updates_markdown(frame, directions)
    if updates:
        (reports_dir / "updates.md").write_text(updates)
        text += "\n" + updates
    depth = depth_markdown(frame)
    if depth:
        (reports_dir / "depth.md").write_text(depth)
        plot_depth(frame, reports_dir / "depth.png")
        text += "\n" + depth
    return text + f"\n(table, CSV and plots in {reports_dir}/)"
