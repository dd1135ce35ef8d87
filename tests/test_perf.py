"""`make perf` on the tiny model: every measurement runs, the JSON has its shape, and every ratio
and target is computed from the numbers this run measured."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import torch

from bench.cli import main
from bench.core.errors import UserError
from bench.report.perf import perf_table
from bench.report.readme import refresh
from bench.study.perf import training
from bench.study.perf.config import PerfConfig, perf_config
from bench.study.perf.peak import measure_peak
from bench.study.perf.suite import run_perf, write_perf

TINY = {
    "preset": "tiny",
    "peak_size": 64,
    "peak_repeats": 1,
    "lines_task": "kmb_tiny",
    "lora_fields": (("rank", 4), ("batch_size", 4), ("max_steps", 2)),
    "pages_task": "kmb_tiny",
    "pages_tokens": 16,
    "pages_batch": 2,
    "pages_steps": 1,
    "read_task": "kmb_tiny",
    "read_questions": 3,
    "icl_contexts": (16, 32, 64),
    "icl_bounds": (0.0, 1.5, 2.0),
    "multilora_task": "kmb_tiny",
    "multilora_modules": 2,
    "multilora_fields": (("rank", 4), ("max_steps", 1)),
}


@pytest.fixture
def tiny_perf(tiny_model, tiny_task_dir, tmp_path):
    cfg = perf_config(PerfConfig(), include_paths=(tiny_task_dir,), **TINY)
    doc = run_perf(cfg, lm=tiny_model)
    path = tmp_path / "perf.json"
    write_perf(doc, path)
    return json.loads(path.read_text())


def test_perf_measures_everything_and_derives_every_ratio_and_target(tiny_perf):
    doc = tiny_perf
    assert {"commit", "dirty", "created_at", "env", "peak", "measures", "ratios", "targets", "model"} <= set(doc)
    assert doc["peak"]["fp32_gflops"] > 0 and "bf16_gflops" in doc["peak"]
    assert doc["env"]["torch_threads"] >= 1 and doc["model"]["device"] == "cpu"
    measures = {m["name"]: m for m in doc["measures"]}
    expected = {"peak", "lora_lines", "lora_pages", "tokens_to_target", "read_none", "read_rag",
                "read_none_one_at_a_time", "multilora_load", "multilora_preloaded", "multilora_preloaded_batched",
                "read_icl_16", "read_icl_32", "read_icl_64"}  # fmt: skip
    assert set(measures) == expected
    assert measures["peak"]["value"] == doc["peak"]["fp32_gflops"]  # the tiny model computes in fp32
    for name in ("lora_lines", "lora_pages"):  # model FLOP/s = 4 N tokens / seconds, from its own details
        d = measures[name]["details"]
        assert measures[name]["value"] == pytest.approx(4 * doc["model"]["params"] * d["tokens"] / d["seconds"] / 1e9)
    assert measures["read_icl_64"]["details"]["context_tokens"] > measures["read_icl_16"]["details"]["context_tokens"]
    assert measures["read_none_one_at_a_time"]["details"]["batch_size"] == 1
    values = {name: m["value"] for name, m in measures.items()}
    assert {r["name"]: r["denominator"] for r in doc["ratios"]}["lora_lines_mfu"] == "peak"  # MFU is a ratio too
    for ratio in doc["ratios"]:
        assert ratio["value"] == pytest.approx(values[ratio["numerator"]] / values[ratio["denominator"]])
    values |= {r["name"]: r["value"] for r in doc["ratios"]}
    assert [t["name"] for t in doc["targets"]] == [
        "lora_lines_mfu", "lora_pages_mfu", "tokens_to_target", "read_icl_32_vs_none", "read_icl_64_vs_none",
        "multilora_batched_speedup",
    ]  # fmt: skip
    for target in doc["targets"]:
        measured = values[target["quantity"]]
        assert target["measured"] == measured
        meets = measured is not None and (
            measured <= target["target"] if target["op"] == "<=" else measured >= target["target"]
        )
        assert target["met"] is meets
    table = perf_table(doc)
    assert all(t["label"] in table for t in doc["targets"]) and "matmul peak fp32" in table


def test_the_readme_shows_a_perf_json_as_its_table(tiny_perf, tmp_path):
    doc = tiny_perf
    (tmp_path / "perf.json").write_text(json.dumps(doc))
    text = "before\n<!-- kmbench:perf perf.json -->\nold\n<!-- /kmbench -->\nafter\n"
    assert (
        refresh(text, tmp_path)
        == f"before\n<!-- kmbench:perf perf.json -->\n{perf_table(doc)}<!-- /kmbench -->\nafter\n"
    )


def test_checkpoints_score_the_adapter_in_training_and_leave_scoring_out_of_the_seconds(
    tiny_model, tiny_task_dir, monkeypatch
):
    from peft import LoraConfig, get_peft_model

    from bench.harness.taskspec import task_manager

    cfg = perf_config(PerfConfig(), include_paths=(tiny_task_dir,), **TINY)
    net = get_peft_model(tiny_model.model, LoraConfig(r=4, target_modules="all-linear"))
    net.train()
    checkpoints = training.Checkpoints(tiny_model, "kmb_tiny", task_manager(cfg.include_paths), cfg, 3, every=2)
    assert checkpoints(1, 10, net) is False and not checkpoints.rows  # not a checkpoint step
    reached = checkpoints(2, 20, net)  # a real score of the model as it is, through lm-eval
    assert net.training and reached is (checkpoints.rows[0]["score"] >= cfg.target_score)

    def slow_score(*args):
        time.sleep(0.5)
        return 0.0

    monkeypatch.setattr(training, "score", slow_score)
    assert checkpoints(4, 40, net) is False and checkpoints(6, 60, net) is False
    before, after = checkpoints.rows[-2:]
    assert (after["step"], after["tokens"]) == (6, 60)
    assert 0 <= after["seconds"] - before["seconds"] < 0.5  # the half second of scoring is not training time
    monkeypatch.setattr(training, "score", lambda *args: 1.0)
    assert checkpoints(8, 80, net) is True  # the target is reached: training may stop
    net.unload()


def test_peak_and_bad_settings(capsys):
    peak = measure_peak(torch.device("cpu"), 64, 1)
    assert peak.fp32_gflops > 0 and peak.for_dtype(torch.float32) == peak.fp32_gflops
    slower = dataclasses.replace(peak, fp32_gflops=peak.fp32_gflops / 2, bf16_gflops=1.0)
    assert slower.best(peak).fp32_gflops == peak.fp32_gflops  # the better of two measurements
    assert slower.best(peak).bf16_gflops == max(1.0, peak.bf16_gflops or 0.0)
    with pytest.raises(UserError, match="read_questions"):
        perf_config(PerfConfig(), read_questions=0)
    with pytest.raises(UserError, match="one bound per ICL context"):
        perf_config(PerfConfig(), icl_bounds=(1.5,))
    assert main(["perf", "--peak-only"]) == 0
    assert "matmul peak fp32" in capsys.readouterr().out
