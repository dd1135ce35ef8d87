"""The study's quantities (T_max, efficiency, bits/param, intervals) and `kmbench figures` end to end."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.study.capacity import bootstrap_interval, capacity, family, t_max


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
        "efficiency_vs_rank",
        "format_bars",
    )
    for name in names:
        for suffix in (".png", ".pdf"):
            assert (figures / f"{name}{suffix}").stat().st_size > 1000, name
    tables = (figures / "tables.md").read_text()
    assert "T_max@0.95" in tables and "| kmb_phonebook_1k | icl " in tables
    assert r"\begin{tabular}" in (figures / "tables.tex").read_text()
