"""The study's quantities (T_max, efficiency, bits/param, intervals) and `kmbench figures` end to end."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from bench.study.capacity import bootstrap_interval, capacity, family, t_max
from bench.study.figures import DEFAULTS_NOTE, at_defaults, capacity_figure, context_budget_figure

COLORS = {"none": "#7f7f7f", "icl": "#1f77b4", "rag": "#2ca02c", "lora": "#d62728"}
FAMILIES = {"none": "closed_book", "icl": "context", "rag": "context", "lora": "parametric"}


def aggregated(*rows: dict) -> pd.DataFrame:
    """Rows as `aggregate` returns them (one per task, memory and budget), from the fields a test sets."""
    full = []
    for row in rows:
        name = row["memory"].split("@")[0].split("(")[0]
        full.append(
            {
                "model": "m",
                "task": row["task"],
                "family": family(row["task"]),
                "memory_name": name,
                "answer_turn": "assistant",
                "memory_family": FAMILIES[name],
                "memory_color": COLORS[name],
                "memory_order": list(COLORS).index(name),
                "metric": "study_match",
                "higher_is_better": True,
                "ci_low": row["score"],
                "ci_high": row["score"],
                "context_budget": 8000,  # the whole window, as a run without a budget records it
                "rank": None,
                "trainable_params": 0,
                "n_queries": 48,
                **row,
            }
        )
    return pd.DataFrame(full)


def test_t_max_is_the_largest_size_up_to_which_every_size_holds():
    sizes, scores = [4000, 1000, 2000], [0.5, 1.0, 0.96]
    assert t_max(sizes, scores, 0.95) == 2000
    assert t_max(sizes, scores, 1.0) == 1000
    assert t_max([1000, 2000], [0.5, 1.0], 0.9) == 0  # a later success does not count past a failure


def test_capacity_efficiency_and_bits_per_parameter():
    agg = pd.DataFrame(
        {
            "model": "m",
            "family": "kmb_phonebook",
            "memory_name": "lora",
            "answer_turn": "assistant",
            "memory_family": "parametric",  # what the capacity grid selects on, from the memory's traits
            "memory": ["lora(rank=4)", "lora(rank=4)", "lora(rank=8)", "lora(rank=8)"],
            "rank": [4, 4, 8, 8],
            "trainable_params": [1000, 1000, 2000, 2000],
            "corpus_tokens": [1000, 2000, 1000, 2000],
            "score": [1.0, 0.5, 1.0, 0.95],
            "n_queries": [36, 73, 36, 73],
        }
    )
    cap = capacity(agg).set_index("rank")
    assert cap.loc[4, "T_max@0.9"] == 1000 and cap.loc[8, "T_max@0.9"] == 2000 and cap.loc[8, "T_max@1"] == 1000
    assert cap.loc[8, "efficiency@0.95"] == pytest.approx(2000 / 2000)
    recalled_bits = max(36 * 1.0, 73 * 0.5) * 10 * math.log2(10)  # the best size's correct facts x 33.2 bits
    assert cap.loc[4, "bits_per_param"] == pytest.approx(recalled_bits / 1000)


def test_families_and_bootstrap_interval():
    assert family("kmb_phonebook_16k") == "kmb_phonebook"
    assert family("kmb_phonebook_study_16k") == "kmb_phonebook_study"
    assert family("kmb_counterfact_1k_efficacy") == "kmb_counterfact_efficacy"
    low, high = bootstrap_interval([np.array([1.0, 0.0] * 50), np.array([1.0, 1.0] * 50)])
    assert low < 0.75 < high and high - low < 0.3  # the per-question mean over two seeds is 0.75
    assert bootstrap_interval([np.ones(5)]) == (1.0, 1.0)


def test_figures_from_a_real_sweep(tiny_model_dir, tmp_path):
    from bench.cli import main

    grid = tmp_path / "grid.yaml"
    grid.write_text(
        f"name: fig\nmodels: ['{tiny_model_dir}']\ntasks: [kmb_phonebook_1k, kmb_phonebook_2k]\nseeds: [0, 1]\n"
        "limit: 3\nforgetting: false\nmemories:\n"
        "  - {memory: none, seeds: [0]}\n"
        "  - {memory: lora, epochs: 1, batch_size: 8, grid: {rank: [2, 4]}}\n"
        "  - {memory: icl, budgets: [16, 64], seeds: [0]}\n"
        "  - {memory: multilora, epochs: 1, rank: 2, tasks: [kmb_phonebook_1k], seeds: [0]}\n"
        "  - {memory: lora, epochs: 1, rank: 2, generator: template, tasks: [kmb_phonebook_1k], seeds: [0],\n"
        "     grid: {format: [raw, qa2]}}\n"
    )
    out, figures = tmp_path / "runs", tmp_path / "figures"
    assert main(["sweep", str(grid), "--out", str(out), "--reports", str(tmp_path / "reports")]) == 0
    assert main(["figures", "--out", str(out), "--figures", str(figures)]) == 0
    names = (
        "capacity_curves",
        "capacity_heatmap",
        "context_budget",
        "multilora_bars",
        "t_max_vs_rank",
        "efficiency_vs_rank",
        "format_bars",
        "loss_curves",
    )
    for name in names:
        for suffix in (".png", ".pdf"):
            assert (figures / f"{name}{suffix}").stat().st_size > 1000, name
    tables = (figures / "tables.md").read_text()
    assert "T_max@0.95" in tables and "| kmb_phonebook_1k | icl " in tables
    assert r"\begin{tabular}" in (figures / "tables.tex").read_text()
    # every LoRA run wrote its losses beside the records; the closed book and ICL train nothing
    assert {p.name.split("-")[1] for p in (out / "train_logs").glob("*.json")} == {"lora"}
    assert len(list((out / "train_logs").glob("kmb_phonebook_2k-lora-*.json"))) == 4  # ranks 2, 4 x seeds 0, 1


def test_loss_curves_draw_an_adapter_once_leave_bad_logs_out_and_redraw_the_same_bytes(tmp_path, caplog):
    from bench.study.figures import loss_curves, loss_lines, read_train_log

    logs = tmp_path / "train_logs"
    logs.mkdir()
    for run in ("lora-a", "lora-a2"):  # one adapter, read in the assistant turn and in the user turn
        (logs / f"kmb_phonebook_1k-{run}.json").write_text('{"losses": [2.0, 1.0, 0.5], "steps": 6}')
    (logs / "kmb_phonebook_1k-lora-b.json").write_text('{"losses": [1.0, NaN], "steps": 4}')
    (logs / "kmb_phonebook_2k-lora-c.json").write_text("{not json")
    frame = pd.DataFrame(
        {
            "task": ["kmb_phonebook_1k", "kmb_phonebook_1k", "kmb_phonebook_1k", "kmb_phonebook_2k"],
            "model": ["tiny"] * 4,
            "memory": ["lora(rank=2)", "lora(rank=2) [user turn]", "lora(rank=4)", "lora(rank=2)"],
            "answer_turn": ["assistant", "user", "assistant", "assistant"],
            "run_id": ["lora-a", "lora-a2", "lora-b", "lora-c"],
        }
    )
    assert read_train_log(logs / "kmb_phonebook_1k-lora-a.json") == ([2.0, 1.0, 0.5], 6)
    assert loss_lines(frame, tmp_path) == {"kmb_phonebook": [("kmb_phonebook_1k lora(rank=2)", [2.0, 1.0, 0.5], 6)]}
    assert [p.name for p in loss_curves(frame, tmp_path, tmp_path)] == ["loss_curves.png", "loss_curves.pdf"]
    (tmp_path / "again").mkdir()
    for again in loss_curves(frame, tmp_path, tmp_path / "again"):  # redrawn: the same bytes, PDF included
        assert again.read_bytes() == (tmp_path / again.name).read_bytes() and b"/CreationDate" not in again.read_bytes()
    assert "lora-b.json: not a train log (a loss is not a finite number)" in caplog.text
    assert "lora-c.json: not a train log" in caplog.text
    assert loss_curves(frame.iloc[2:], tmp_path, tmp_path / "none") == []  # only bad logs: no figure


def test_the_study_sizes_have_capacities_on_the_study_scorer():
    """T_max and Efficiency exist for the study's own task families, on the rows' primary metric
    (study_match on PhoneBook), with the study's thresholds."""
    agg = aggregated(
        *(
            {"task": f"kmb_phonebook_study_{k}k", "memory": "lora@study(rank=8)", "rank": 8, "trainable_params": 100,
             "corpus_tokens": 1343 * k, "score": score}
            for k, score in ((1, 1.0), (2, 0.92))
        )
    )  # fmt: skip
    [row] = capacity(agg).to_dict("records")
    assert row["family"] == "kmb_phonebook_study" and row["T_max@0.9"] == 2686 and row["T_max@1"] == 1343
    assert row["bits_per_param"] == pytest.approx(48 * 10 * math.log2(10) / 100)


def test_answers_read_in_the_user_turn_are_a_capacity_of_their_own():
    """One adapter asked two ways: the study's reply recalls nothing, the trained user turn every
    fact. The two never average into one row, and each has its own T_max and panel."""
    agg = aggregated(
        *(
            {"task": f"kmb_phonebook_study_{k}k", "memory": f"lora@study(rank=8){suffix}", "rank": 8,
             "trainable_params": 100, "corpus_tokens": 1343 * k, "score": score, "answer_turn": turn}
            for k in (1, 2)
            for turn, suffix, score in (("assistant", "", 0.0), ("user", " [user turn]", 1.0))
        )
    )  # fmt: skip
    rows = {r["answer_turn"]: r for r in capacity(agg).to_dict("records")}
    assert rows["assistant"]["T_max@0.9"] == 0 and rows["user"]["T_max@0.9"] == 2686
    assert rows["user"]["panel"] == "kmb_phonebook_study, answered in the user turn"
    assert len(capacity_figure(agg).axes) == 2


def test_capacity_figure_draws_icl_and_rag_at_their_widest_context_beside_the_lora_ranks():
    rows = []
    for k, tokens in ((1, 1343), (2, 2715)):
        task = f"kmb_phonebook_study_{k}k"
        rows += [{"task": task, "corpus_tokens": tokens, "memory": f"lora@study(rank={r})", "rank": r, "score": 0.5}
                 for r in (2, 8)]  # fmt: skip
        rows.append({"task": task, "corpus_tokens": tokens, "memory": "icl@study", "score": 0.9 / k})
        rows.append({"task": task, "corpus_tokens": tokens, "memory": "icl@study", "score": 0.0, "context_budget": 64})
        rows.append({"task": task, "corpus_tokens": tokens, "memory": "rag@study", "score": 0.6})
    rows.append({"task": "kmb_phonebook_study_128k", "corpus_tokens": 170000, "memory": "rag@study", "score": 0.1})
    ax = capacity_figure(aggregated(*rows)).axes[0]
    lines = {c.get_label(): list(c.lines[0].get_ydata()) for c in ax.containers}
    assert lines == {
        "lora@study(rank=2)": [50, 50],
        "lora@study(rank=8)": [50, 50],
        "icl@study (widest context)": [90, 45],  # the 64-token budget is not the study's setting
        "rag@study (widest context)": [60, 60],  # only the sizes LoRA was measured at
    }
    styles = {c.get_label(): c.lines[0].get_linestyle() for c in ax.containers}
    assert {label for label, style in styles.items() if style == "--"} == {name for name in lines if "context" in name}
    assert capacity_figure(aggregated(*[r for r in rows if "lora" not in r["memory"]])) is None
    plt.close("all")


def test_the_flat_lines_are_the_memories_at_their_defaults_never_the_best_scorer():
    task = {"task": "kmb_phonebook_1k", "corpus_tokens": 1007}
    agg = aggregated(
        {**task, "memory": "icl", "score": 0.2, "context_budget": 64},
        {**task, "memory": "icl", "score": 0.4, "context_budget": 256},
        {**task, "memory": "lora", "score": 0.5},  # the defaults, chosen on held-out data
        {**task, "memory": "lora(rank=64)", "score": 0.9},  # scores higher here: not what the line shows
        {**task, "memory": "lora@study(rank=8)", "score": 1.0},
        {**task, "memory": "none", "score": 0.05},
    )
    assert list(at_defaults(agg)) == [True, True, True, False, False, True]
    ax = context_budget_figure(agg).axes[0]
    flat = {line.get_label(): line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--"}
    assert flat == {"none: defaults, 0 context": 5.0, "lora: defaults, 0 context": 50.0}
    assert ax.get_legend().get_title().get_text() == DEFAULTS_NOTE and "held-out" in DEFAULTS_NOTE
    without = context_budget_figure(agg[agg["memory"] != "lora"]).axes[0]  # no LoRA at its defaults: no LoRA line
    assert [line.get_label() for line in without.lines if line.get_linestyle() == "--"] == ["none: defaults, 0 context"]
    plt.close("all")


def test_rank_plots_survive_runs_that_recalled_nothing(tmp_path):
    """A smoke run's LoRA may recall nothing: zeros on the bits axis, and NaN where a family has no bits."""
    from bench.study.figures import per_rank

    cap = pd.DataFrame(
        {
            "family": ["kmb_counterfact_study"] * 2 + ["kmb_phonebook_study"] * 2,
            "panel": ["kmb_counterfact_study"] * 2 + ["kmb_phonebook_study"] * 2,
            "rank": [2, 4, 2, 4],
            "bits_per_param": [float("nan"), float("nan"), 0.0, 0.0],
        }
    )
    written = per_rank(cap, tmp_path, "bits_per_param_vs_rank", lambda f: ["bits_per_param"], "bits / param")
    assert [p.name for p in written] == ["bits_per_param_vs_rank.png", "bits_per_param_vs_rank.pdf"]


def test_capacity_families_come_from_the_task_folders(tmp_path):
    """Thresholds and fact bits are the task folders' knowledge: a new family needs no code, and a
    family declared twice or a threshold outside (0, 1] is one line naming the file."""
    from bench.core.errors import UserError
    from bench.study.capacity import capacity_families

    families = capacity_families()
    assert families["kmb_phonebook_study"].taus == (0.9, 0.95, 1.0)
    assert families["kmb_phonebook_study"].fact_bits == pytest.approx(10 * math.log2(10))
    assert families["kmb_counterfact_study"].fact_bits is None
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "capacity.yaml").write_text("my_facts: {taus: [0.5]}\n")
    assert capacity_families(tmp_path) == {"my_facts": capacity_families(tmp_path)["my_facts"]}
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "capacity.yaml").write_text("my_facts: {taus: [0.5]}\n")
    with pytest.raises(UserError, match="declared twice"):
        capacity_families(tmp_path)
    (tmp_path / "other" / "capacity.yaml").write_text("more: {taus: [1.5]}\n")
    with pytest.raises(UserError, match=r"other/capacity.yaml: more: taus are thresholds"):
        capacity_families(tmp_path)
