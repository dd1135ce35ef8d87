"""The reporter against golden records (real runs on this machine) and a golden table."""

from __future__ import annotations

import os
from pathlib import Path

from bench.report import load_table, markdown_table, write_report

GOLDEN = Path(__file__).parent / "golden"


def test_markdown_table_matches_golden():
    table = markdown_table(load_table(GOLDEN))
    if os.environ.get("KMBENCH_UPDATE_GOLDEN"):
        (GOLDEN / "table.md").write_text(table)
    assert table == (GOLDEN / "table.md").read_text()


def test_report_writes_table_csv_and_plots(tmp_path):
    text = write_report(GOLDEN, tmp_path)
    assert "| smollm2-135m | `none` |" in text
    for name in ("results.md", "results.csv", "accuracy_vs_context.png", "accuracy_vs_write_cost.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "accuracy_vs_context.png").read_bytes()[:4] == b"\x89PNG"
    csv_lines = (tmp_path / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(list((GOLDEN / "records").rglob("*.json")))
