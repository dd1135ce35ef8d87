"""Run records -> one CSV of every field and a Markdown table per task (HELM-style cost columns)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.core.errors import UserError
from bench.core.metrics import stderr_column
from bench.report.depth import depth_columns
from bench.report.directions import Directions, directions_for
from bench.report.traits import trait_columns, with_traits
from bench.run.record import find_records, load_record

# (column in the flattened record, header, how to show it); each header gets the arrow of its
# column's direction (`bench.report.directions`).
COLUMNS = [
    ("write_seconds", "write s", lambda r: f"{r.write_seconds:.1f}" + (" (cached)" if r.write_cached else "")),
    ("trainable_params", "trained params", lambda r: f"{r.trainable_params:,}" if r.trainable_params else "0"),
    ("storage_bytes", "storage", lambda r: human_bytes(r.storage_bytes)),
    ("seconds_per_query", "read s/query", lambda r: f"{r.seconds_per_query:.2f}"),
    ("context_tokens_per_query", "context tok/query", lambda r: f"{r.context_tokens_per_query:.0f}"),
    ("truncated_fraction", "truncated", lambda r: f"{100 * r.truncated_fraction:.0f}%"),
]


def retention_cell(value: float | None) -> str:
    """The forgetting probe's retention; "–" where no adapter was installed or none was measured."""
    return "–" if value is None or pd.isna(value) else f"{100 * value:.0f}%"


# Shown after a task's primary metric, when the task reports them.
SECONDARY_METRICS = ("exact_match", "f1", "judge", "router_precision", "digits_match", "name_match", "made_up")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def load_table(records_root: Path) -> pd.DataFrame:
    """Every record under `records_root` as one flattened row, with its memory's traits
    (`memory_family`, `memory_order`, `memory_color`), its task's level and corpus hash
    (`level`, `corpus_sha256`, for the depth view) and its file's path."""
    paths = find_records(records_root)
    if not paths:
        raise UserError(f"no run records under {records_root}/records; run `kmbench run` first")
    rows = []
    for path in paths:
        record = load_record(path)
        traits = trait_columns(record.memory.name, record.memory.config)
        rows.append({**record.flatten(), **traits, **depth_columns(record), "path": str(path)})
    return pd.DataFrame(rows)


def metric_cell(row: pd.Series, metric: str) -> str:
    value, stderr = row.get(metric), row.get(stderr_column(metric))
    if value is None or pd.isna(value):
        return "–"
    cell = f"{100 * value:.1f}"
    return cell + (f" ± {100 * stderr:.1f}" if stderr is not None and not pd.isna(stderr) else "")


def full_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that asked every question: a run `limit`ed to the first few is not the task's score."""
    return frame[frame["limit"].isna()] if "limit" in frame else frame


def by_task(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(task, its rows) in natural order: kmb_phonebook_2k before kmb_phonebook_16k."""
    from bench.harness.taskspec import natural_key

    return sorted(frame.groupby("task"), key=lambda pair: natural_key(str(pair[0])))


def header(name: str, directions: Directions, task: str, column: str) -> str:
    """A column's header with the arrow saying which way is better."""
    return f"{name} {directions.arrow(task, column)}"


def markdown_table(frame: pd.DataFrame, directions: Directions | None = None) -> str:
    """One section per task; rows are model x memory (and seed when several), in the memories'
    order (closed book first). `directions`: the tasks' own unless given."""
    frame = with_traits(frame)
    directions = directions or directions_for(frame["task"].unique())
    sections = []
    for task, rows in by_task(frame):
        named = directions.shown.get(str(task), ())  # the task's own choice, where it makes one
        candidates = dict.fromkeys([rows["primary_metric"].iloc[0], *(named or SECONDARY_METRICS)])
        metrics = [m for m in candidates if m in rows and rows[m].notna().any()][:3]
        many_seeds = rows["seed"].nunique() > 1
        retention = "retention" in rows and rows["retention"].notna().any()
        rows = rows.sort_values(["model", "memory_order", "memory", "seed"])
        heads = ["model", "memory"] + (["seed"] if many_seeds else [])
        heads += [header(f"{m} %", directions, task, m) for m in metrics]
        heads += [header("retention", directions, task, "retention")] if retention else []
        heads += [header(h, directions, task, column) for column, h, _ in COLUMNS]
        lines = [
            f"### {task} ({int(rows['n_queries'].iloc[0])} questions)",
            "",
            "| " + " | ".join(heads) + " |",
            "|" + "---|" * len(heads),
        ]
        for row in rows.itertuples(index=False):
            series = pd.Series(row._asdict())
            cells = [row.model, f"`{row.memory}`"] + ([str(row.seed)] if many_seeds else [])
            cells += [metric_cell(series, m) for m in metrics] + ([retention_cell(row.retention)] if retention else [])
            cells += [fmt(row) for _, _, fmt in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"
