"""Records in, tables and plots out: `write_report(records_root, reports_dir)`."""

from bench.report.plots import plot_accuracy_vs_context, plot_accuracy_vs_write_cost
from bench.report.tables import load_table, markdown_table
from bench.report.write import write_report

__all__ = ["load_table", "markdown_table", "plot_accuracy_vs_context", "plot_accuracy_vs_write_cost", "write_report"]
