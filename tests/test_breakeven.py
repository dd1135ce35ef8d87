"""When each memory pays off: crossings of write + n x read, and the front at each workload."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.report.breakeven import Cost, breakeven_markdown, cost_models, crossing, front_at
from bench.report.directions import Directions


def test_a_dear_write_with_cheap_reads_crosses_where_the_totals_meet():
    lora, icl = Cost("lora", 1.0, write=100.0, read=0.1), Cost("icl", 0.3, write=0.0, read=0.6)
    n = crossing(lora, icl)
    assert n == pytest.approx(200.0) and lora.total(n) == pytest.approx(icl.total(n))
    assert crossing(icl, lora) == pytest.approx(200.0)  # symmetric
    assert crossing(lora, Cost("x", 0.5, write=200.0, read=0.2)) is None  # dearer on both: never
    assert crossing(lora, Cost("y", 0.5, write=100.0, read=0.5)) is None  # same write: never crosses


def test_the_front_changes_with_the_workload():
    none = Cost("none", 0.0, 0.0, 0.1)
    icl, lora = Cost("icl", 0.5, 0.0, 1.0), Cost("lora", 0.9, 100.0, 0.1)
    assert [m.memory for m in front_at([none, icl, lora], 10, True)] == ["none", "icl", "lora"]
    assert [m.memory for m in front_at([none, icl, lora], 1000, True)] == ["none", "lora"]  # icl now dearer


def frame() -> pd.DataFrame:
    rows = []
    for memory, score, write, spq, seeds in [("none", 0.0, 0.0, 0.1, [0]), ("icl", 0.3, 0.0, 0.6, [0]),
                                             ("lora", 1.0, 100.0, 0.1, [0, 1])]:  # fmt: skip
        for seed in seeds:
            rows.append({"task": "t", "model": "m", "memory": memory, "primary_metric": "exact_match",
                         "exact_match": score, "write_seconds": write + seed * 20, "seconds_per_query": spq,
                         "write_flops": 1e12 * write, "read_flops": 1e9 * spq * 10, "n_queries": 10,
                         "limit": None})  # fmt: skip
    rows.append({**rows[1], "memory": "rag", "limit": 2.0, "exact_match": 1.0})  # a partial run: left out
    return pd.DataFrame(rows)


def test_the_markdown_has_every_crossing_from_the_records_and_leaves_partial_runs_out():
    models = {m.memory: m for m in cost_models(frame(), "seconds")}
    assert set(models) == {"none", "icl", "lora"} and models["lora"].write == 110.0  # mean over seeds
    text = breakeven_markdown(frame(), Directions({"t": {"exact_match": True}}))
    assert "| `lora` | 100.0 | 110.0 | 0.100 | `icl` | 220 |" in text  # 110 / (0.6 - 0.1)
    assert "`rag`" not in text and "| 1,000 | `none` (0.0, 100), `lora` (100.0, 210) |" in text


def test_each_memory_gain_over_its_sham_comes_from_the_two_tasks_records():
    from bench.report.sham import sham_markdown, sham_pairs

    rows = [{"task": task, "model": "m", "memory": memory, "primary_metric": "exact_match", "exact_match": score,
             "limit": None}
            for task, memory, score in [("kmb_phonebook_1k", "lora", 1.0), ("kmb_phonebook_1k_sham", "lora", 0.05),
                                        ("kmb_phonebook_1k", "rag", 1.0), ("kmb_phonebook_1k", "none", 0.0),
                                        ("kmb_phonebook_1k_sham", "none", 0.0)]]  # fmt: skip
    frame = pd.DataFrame(rows)
    assert sham_pairs(["kmb_phonebook_1k", "kmb_phonebook_1k_sham"]) == {"kmb_phonebook_1k_sham": "kmb_phonebook_1k"}
    text = sham_markdown(frame)
    assert "| m | `lora` | 100.0 | 5.0 | +95.0 |" in text and "| m | `none` | 0.0 | 0.0 | +0.0 |" in text
    assert "`rag`" not in text  # no sham run of it: no gain to show
    assert sham_markdown(frame[frame["task"] == "kmb_phonebook_1k"]) == ""
