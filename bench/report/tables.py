"""Run records -> one CSV of every field and a Markdown table per task (HELM-style cost columns)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.errors import UserError
from bench.record import find_records, load_record

# (column in the flattened record, header, how to show it); arrows say which way is better.
COLUMNS = [
    ("write_seconds", "write s ↓", lambda r: f"{r.write_seconds:.1f}" + (" (cached)" if r.write_cached else "")),
    ("trainable_params", "trained params ↓", lambda r: f"{r.trainable_params:,}" if r.trainable_params else "0"),
    ("storage_bytes", "storage ↓", lambda r: human_bytes(r.storage_bytes)),
    ("seconds_per_query", "read s/query ↓", lambda r: f"{r.seconds_per_query:.2f}"),
    ("context_tokens_per_query", "context tok/query ↓", lambda r: f"{r.context_tokens_per_query:.0f}"),
    ("truncated_fraction", "truncated ↓", lambda r: f"{100 * r.truncated_fraction:.0f}%"),
]


def retention_cell(value: float | None) -> str:
    """The forgetting probe's retention; "–" where no adapter was installed or none was measured."""
    return "–" if value is None or pd.isna(value) else f"{100 * value:.0f}%"


# Shown after a task's primary metric, when the task reports them.
SECONDARY_METRICS = ("exact_match", "f1", "judge", "router_precision", "digits_match")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def load_table(records_root: Path) -> pd.DataFrame:
    paths = find_records(records_root)
    if not paths:
        raise UserError(f"no run records under {records_root}/records; run `kmbench run` first")
    return pd.DataFrame([{**load_record(p).flatten(), "path": str(p)} for p in paths])


def metric_cell(row: pd.Series, metric: str) -> str:
    value, stderr = row.get(metric), row.get(f"{metric}_stderr")
    if value is None or pd.isna(value):
        return "–"
    cell = f"{100 * value:.1f}"
    return cell + (f" ± {100 * stderr:.1f}" if stderr is not None and not pd.isna(stderr) else "")


def by_task(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(task, its rows) in natural order: kmb_phonebook_2k before kmb_phonebook_16k."""
    from bench.taskspec import natural_key

    return sorted(frame.groupby("task"), key=lambda pair: natural_key(str(pair[0])))


def markdown_table(frame: pd.DataFrame) -> str:
    """One section per task; rows are model x memory (and seed when several), closed book first."""
    order = {"none": 0, "icl": 1, "rag": 2, "lora": 3, "multilora": 4, "hybrid": 5}
    sections = []
    for task, rows in by_task(frame):
        candidates = dict.fromkeys([rows["primary_metric"].iloc[0], *SECONDARY_METRICS])
        metrics = [m for m in candidates if m in rows and rows[m].notna().any()][:3]
        many_seeds = rows["seed"].nunique() > 1
        retention = "retention" in rows and rows["retention"].notna().any()
        rows = rows.assign(_order=rows["memory"].map(lambda m: order.get(m.split("(")[0], 9)))
        rows = rows.sort_values(["model", "_order", "memory", "seed"])
        header = ["model", "memory"] + (["seed"] if many_seeds else []) + [f"{m} % ↑" for m in metrics]
        header += (["retention ↑"] if retention else []) + [h for _, h, _ in COLUMNS]
        lines = [
            f"### {task} ({int(rows['n_queries'].iloc[0])} questions)",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for row in rows.itertuples(index=False):
            series = pd.Series(row._asdict())
            cells = [row.model, f"`{row.memory}`"] + ([str(row.seed)] if many_seeds else [])
            cells += [metric_cell(series, m) for m in metrics] + ([retention_cell(row.retention)] if retention else [])
            cells += [fmt(row) for _, _, fmt in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def write_report(records_root: Path, reports_dir: Path) -> str:
    """Write results.csv, results.md and the plots; return the Markdown for the terminal."""
    from bench.report.plots import plot_accuracy_vs_context, plot_accuracy_vs_write_cost

    frame = load_table(records_root)
    reports_dir.mkdir(parents=True, exist_ok=True)
    frame.drop(columns=["_order"], errors="ignore").to_csv(reports_dir / "results.csv", index=False)
    text = markdown_table(frame)
    (reports_dir / "results.md").write_text(text)
    plot_accuracy_vs_context(frame, reports_dir / "accuracy_vs_context.png")
    plot_accuracy_vs_write_cost(frame, reports_dir / "accuracy_vs_write_cost.png")
    return text + f"\n(table, CSV and plots in {reports_dir}/)"
