"""Metric names and which way is better, in one place.

lm-eval reports a task's results under `"metric,filter"` keys (`"exact_match,none"`, and the
stderr as `"exact_match_stderr,none"`). KMBench stores each as a label (the bare metric name
for the `none` filter, else `metric_filter`) with its stderr beside it in a `<label>_stderr`
column. Which way is better comes from the task's `metric_list` (its `higher_is_better`, read by
`bench.harness.taskspec`); the metrics KMBench derives itself are declared here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STDERR_SUFFIX = "_stderr"
NO_FILTER = "none"  # lm-eval's name for the unfiltered responses

# Metrics KMBench computes itself, beside lm-eval's: a router's precision against the oracle
# (bench.parts.routing), the optional LLM judge's score and its share of malformed outputs
# (bench.harness.judging) and the forgetting probe's retention (bench.run.retention).
DERIVED_HIGHER_IS_BETTER: Mapping[str, bool] = {
    "router_precision": True,
    "judge": True,
    "judge_malformed": False,
    "retention": True,
}

UP, DOWN = "↑", "↓"


def split_key(key: str) -> tuple[str, str] | None:
    """`"exact_match,none"` -> `("exact_match", "none")`; None for a key that is no metric (`"alias"`)."""
    name, comma, filt = key.partition(",")
    return (name, filt) if comma else None


def metric_label(name: str, filt: str) -> str:
    """The label a metric is stored under: the bare name for the `none` filter, else `name_filter`."""
    return name if filt in (NO_FILTER, "") else f"{name}_{filt}"


def stderr_column(label: str) -> str:
    """The column beside a metric's that holds its standard error."""
    return f"{label}{STDERR_SUFFIX}"


def parse_results(task_results: Mapping[str, Any]) -> dict[str, tuple[float, float | None]]:
    """One task's lm-eval results -> {label: (value, stderr or None)}; stderr keys and
    non-numeric entries (an alias, a stderr of "N/A") are not metrics of their own."""
    metrics: dict[str, tuple[float, float | None]] = {}
    for key, value in task_results.items():
        parts = split_key(key)
        if parts is None or parts[0].endswith(STDERR_SUFFIX) or not isinstance(value, (int, float)):
            continue
        name, filt = parts
        stderr = task_results.get(f"{stderr_column(name)},{filt}")
        metrics[metric_label(name, filt)] = (float(value), float(stderr) if isinstance(stderr, (int, float)) else None)
    return metrics


def metric_direction(label: str, declared: Mapping[str, bool]) -> bool | None:
    """Whether higher is better for a stored metric label, from a task's declared directions
    (metric name -> higher_is_better) and KMBench's derived metrics; None when nothing says.

    A filtered label (`exact_match_strict-match`) takes its metric's direction: the longest
    declared name it starts with, so `f1_x` never borrows the direction of `f1` when `f1_x` is declared.
    """
    if label in declared:
        return bool(declared[label])
    if label in DERIVED_HIGHER_IS_BETTER:
        return DERIVED_HIGHER_IS_BETTER[label]
    prefixes = [name for name in declared if label.startswith(name + "_")]
    return bool(declared[max(prefixes, key=len)]) if prefixes else None


def arrow(higher_is_better: bool) -> str:
    """The arrow a header carries: ↑ where higher is better, ↓ where lower is."""
    return UP if higher_is_better else DOWN
