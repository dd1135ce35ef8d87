"""The reporter against golden records (real runs on this machine) and a golden table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


# --- metric names and directions (one parser, one source of direction) ---

LOW_TASK_YAML = """\
task: kmb_lowtask
dataset_path: json
dataset_kwargs: {data_files: {test: questions.jsonl}}
test_split: test
output_type: generate_until
doc_to_text: "{{question}}"
doc_to_target: "{{answer}}"
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: false
  - metric: bits_per_byte
    aggregation: mean
  - metric: my_score
    aggregation: mean
metadata:
  corpus: corpus.jsonl
  version: 1
"""


@pytest.fixture
def low_task(tmp_path):
    """A task whose metric_list says its headline metric is better lower, and its index."""
    from bench.harness.taskspec import task_manager

    folder = tmp_path / "lowtask"
    folder.mkdir()
    (folder / "kmb_lowtask.yaml").write_text(LOW_TASK_YAML)
    (folder / "corpus.jsonl").write_text('{"id": "a", "contents": "x"}\n')
    return task_manager([folder])


def test_one_parser_reads_metric_filter_keys():
    from bench.core.metrics import parse_results, split_key, stderr_column
    from bench.run.runner import parse_metrics

    results = {
        "alias": "kmb_x",
        "exact_match,none": 0.5,
        "exact_match_stderr,none": 0.1,
        "exact_match,strict-match": 0.25,
        "exact_match_stderr,strict-match": "N/A",
        "f1,none": 1,
    }
    assert split_key("alias") is None and split_key("f1,none") == ("f1", "none")
    assert parse_results(results) == {
        "exact_match": (0.5, 0.1),
        "exact_match_strict-match": (0.25, None),
        "f1": (1.0, None),
    }
    assert {k: (m.value, m.stderr) for k, m in parse_metrics(results).items()} == parse_results(results)
    assert stderr_column("exact_match_strict-match") == "exact_match_strict-match_stderr"


def test_derived_metrics_declare_their_direction():
    from bench.core.metrics import DERIVED_HIGHER_IS_BETTER, arrow, metric_direction
    from bench.harness.judging import METRIC as JUDGE_METRIC
    from bench.parts.routing import ROUTER_METRIC

    assert {JUDGE_METRIC, ROUTER_METRIC, "retention"} <= set(DERIVED_HIGHER_IS_BETTER)
    declared = {"f1": False, "f1_x": True}
    assert metric_direction("f1_strict", declared) is False  # a filtered label takes its metric's direction
    assert metric_direction("f1_x_y", declared) is True  # the longest declared name wins
    assert metric_direction("unknown", declared) is None and (arrow(True), arrow(False)) == ("↑", "↓")


def test_task_spec_reads_higher_is_better(low_task):
    from bench.harness.taskspec import task_spec

    spec = task_spec(low_task, "kmb_lowtask")
    # declared false; absent -> lm-eval's registry (bits_per_byte: lower) or, for a metric it does not know, higher
    assert dict(spec.higher_is_better) == {"exact_match": False, "bits_per_byte": False, "my_score": True}
    assert spec.primary_metric == "exact_match" and not spec.is_higher_better("exact_match_strict-match")
    assert task_spec(low_task, "kmb_lowtask") == spec


def lowtask_frame():
    """The golden records, as if they were runs of `kmb_lowtask`."""
    return load_table(GOLDEN).assign(task="kmb_lowtask")


def test_lower_is_better_metric_gets_a_down_arrow_and_a_flipped_front(low_task, monkeypatch, tmp_path):
    from bench.report import plots
    from bench.report.directions import directions_for
    from bench.report.pareto import pareto_front

    directions = directions_for(["kmb_lowtask"], low_task)
    table = markdown_table(lowtask_frame(), directions)
    assert "| exact_match % ↓ | digits_match % ↑ | write s ↓ |" in table  # digits_match is declared nowhere: higher

    costs, scores = [0, 1, 2, 3], [0.5, 0.4, 0.9, 0.1]
    assert pareto_front(costs, scores) == [0, 2]
    assert pareto_front(costs, scores, higher_is_better=False) == [0, 1, 3]

    seen = []
    monkeypatch.setattr(plots, "pareto_front", lambda c, s, higher_is_better: seen.append(higher_is_better) or [0])
    plots.scatter(lowtask_frame(), "write_seconds", "x", "t", tmp_path / "p.png", pareto=True, directions=directions)
    assert seen == [False] and (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_board_orders_and_labels_by_the_task_direction(low_task):
    from bench.board.page import board_markdown
    from bench.report.directions import directions_for

    frame = lowtask_frame()
    frame = frame.assign(submission="s", score=frame["exact_match"], score_stderr=frame["exact_match_stderr"])
    text = board_markdown(frame, directions_for(["kmb_lowtask"], low_task))
    assert "| score % (95% CI) ↓ | retention ↑ | write s ↓ |" in text
    memories = [line.split(" | ")[1] for line in text.splitlines() if line.startswith("| smollm2")]
    assert memories[0] == "none" and memories[1] == "icl"  # the lowest exact_match first


def test_unknown_task_falls_back_to_higher_is_better_and_costs_are_lower():
    from bench.report.directions import directions_for

    directions = directions_for(["kmb_no_such_task"])
    assert directions.missing == ("kmb_no_such_task",)
    assert directions.higher_is_better("kmb_no_such_task", "exact_match")
    assert not directions.higher_is_better("kmb_no_such_task", "storage_bytes")
    assert directions.arrow("kmb_no_such_task", "retention") == "↑"


def test_rows_carry_their_memory_traits():
    from bench.run.memories import traits_of

    frame = load_table(GOLDEN)
    for row in frame.itertuples():
        traits = traits_of(row.memory_name)
        assert (row.memory_family, row.memory_order, row.memory_color) == (traits.family, traits.order, traits.color)
    assert set(frame["memory_family"]) == {"closed_book", "context", "parametric"}
