"""`make perf` on the tiny model: every measurement runs, the JSON has its shape, and every ratio
and target is computed from the numbers this run measured; the q15 preset (the long document)
scaled down to a tiny one."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.core.errors import UserError
from bench.report.perf import perf_table
from bench.report.readme import refresh
from bench.study.adapter_loading import evenly_spread
from bench.study.perf import training
from bench.study.perf.config import (
    DISTILL,
    PAGES,
    PERF_PRESETS,
    Q15,
    QUICK,
    READING,
    STEPS,
    TRAINING,
    WINDOW,
    PerfConfig,
    by_name,
    perf_config,
)
from bench.study.perf.peak import measure_peak
from bench.study.perf.quantities import targets_for
from bench.study.perf.suite import STEP_RUNS, run_perf, write_perf

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
    "distill_steps": 2,
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
                "read_icl_16", "read_icl_32", "read_icl_64", "lora_lines_fp32", "lora_lines_bf16",
                "peak_bf16", "read_none_flops", "read_rag_flops", "read_icl_16_flops", "read_icl_32_flops",
                "read_icl_64_flops", "resident_peak", "lora_step", "lora_step_matmul",
                "lora_step_matmul_speed", "distill_ntp", "distill_every", "distill_once"}  # fmt: skip
    assert set(measures) == expected
    # distillation: the same steps, the teacher computed once per line (timed apart) or run in every batch
    every, once = measures["distill_every"]["details"], measures["distill_once"]["details"]
    assert every["teacher_cached"] == 0 and once["teacher_cached"] > 0 and once["tokens"] == every["tokens"]
    assert 0 < once["teacher_seconds"] < once["seconds"]
    # the profiled step: its matmuls took part of a step and did real work; every profiled second has a category
    step = measures["lora_step"]
    assert measures["lora_step_matmul"]["value"] > 0 and measures["lora_step_matmul_speed"]["value"] > 0
    share = next(r for r in tiny_perf["ratios"] if r["name"] == "lora_step_matmul_share")
    assert share["value"] == pytest.approx(measures["lora_step_matmul"]["value"] / step["value"])
    by_category = step["details"]["profiled_seconds_by_category"]
    assert sum(by_category.values()) == pytest.approx(step["details"]["profiled_step_seconds"], rel=0.05)
    assert by_category["matmul"] == measures["lora_step_matmul"]["value"] < step["details"]["profiled_step_seconds"]
    resident = measures["resident_peak"]
    assert set(resident["details"]["by_step_gb"]) == set(STEPS) and resident["value"] == max(
        resident["details"]["by_step_gb"].values()
    )
    assert 0.1 < resident["value"] < 8  # the process holds the model and more, and the tiny model stays under the cap
    # what a question must compute grows with the context it attends to, from the closed book's up
    flops = [measures[f"read_{n}_flops"]["value"] for n in ("none", "icl_16", "icl_32", "icl_64")]
    assert flops == sorted(flops) and flops[0] < flops[-1]
    assert measures["peak"]["value"] == doc["peak"]["fp32_gflops"]  # the tiny model computes in fp32
    for name in ("lora_lines", "lora_pages", "lora_lines_fp32"):  # model FLOP/s = 4 N tokens / seconds
        d = measures[name]["details"]
        assert measures[name]["value"] == pytest.approx(4 * doc["model"]["params"] * d["tokens"] / d["seconds"] / 1e9)
    assert measures["read_icl_64"]["details"]["context_tokens"] > measures["read_icl_16"]["details"]["context_tokens"]
    assert measures["read_none_one_at_a_time"]["details"]["batch_size"] == 1
    values = {name: m["value"] for name, m in measures.items()}
    assert {r["name"]: r["denominator"] for r in doc["ratios"]}["lora_lines_mfu"] == "peak"  # MFU is a ratio too
    for ratio in doc["ratios"]:  # bf16's side is None where the CPU has no native bf16
        top, bottom = values[ratio["numerator"]], values[ratio["denominator"]]
        assert ratio["value"] == (pytest.approx(top / bottom) if top is not None and bottom else None)
    values |= {r["name"]: r["value"] for r in doc["ratios"]}
    assert [t["name"] for t in doc["targets"]] == [
        "lora_lines_mfu", "lora_pages_mfu", "lora_bf16_speedup", "lora_bf16_mfu", "tokens_to_target",
        "read_icl_32_vs_none", "read_icl_64_vs_none",
        "multilora_batched_speedup", "resident_peak",
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


@pytest.fixture
def tiny_long_task_dir(tiny_task_dir) -> Path:
    """A tiny "long document": 24 PhoneBook sections, more than the tiny model's window holds."""
    from conftest import FACTS, fact_line

    from tasks.kmb_phonebook.build import TASK_YAML

    facts = [(f"pb{i}", *FACTS[i % len(FACTS)]) for i in range(24)]
    data = tiny_task_dir / "data"
    (data / "long_qa.jsonl").write_text(
        "".join(json.dumps({"id": i, "name": n, "answer": p}) + "\n" for i, n, p in facts)
    )
    (data / "long_corpus.jsonl").write_text(
        "".join(json.dumps({"id": i, "contents": fact_line(n, p)}) + "\n" for i, n, p in facts)
    )
    (tiny_task_dir / "kmb_tiny_long.yaml").write_text(TASK_YAML.format(task="kmb_tiny_long", stem="long", facts=24))
    return tiny_task_dir


def test_q15_on_a_tiny_long_document(tiny_model, tiny_long_task_dir, tmp_path):
    """The q15 preset scaled down: reading and multi-LoRA over windows, ratios, no speed targets."""
    window = (("split", "window"), ("window_tokens", 64), ("window_overlap", 8), ("rank", 4), ("max_steps", 1))
    cfg = perf_config(
        Q15,
        include_paths=(tiny_long_task_dir,),
        peak_size=64,
        peak_repeats=1,
        read_task="kmb_tiny_long",
        read_questions=6,
        multilora_task="kmb_tiny_long",
        multilora_questions=6,
        multilora_fields=window,
    )
    path = tmp_path / "q15.json"
    write_perf(run_perf(cfg, lm=tiny_model), path)
    doc = json.loads(path.read_text())
    assert doc["preset"] == doc["config"]["preset"] == "q15" and doc["targets"] == []
    assert doc["model"]["attention"] in ("eager", "sdpa") and doc["model"]["attention_kernels"] is None  # CPU
    measures = {m["name"]: m for m in doc["measures"]}
    assert list(measures) == ["peak", "read_none", "read_icl_window", "read_rag", "read_none_one_at_a_time",
                              "read_icl_window_one_at_a_time", "read_rag_one_at_a_time", "read_none_flops",
                              "read_icl_window_flops", "read_rag_flops", "multilora_load", "multilora_preloaded",
                              "multilora_preloaded_batched", "resident_peak"]  # fmt: skip
    assert all(measures[f"{m}_one_at_a_time"]["details"]["batch_size"] == 1 for m in ("read_icl_window", "read_rag"))
    for m in doc["measures"][1:-1]:  # between the peak and the resident memory, every reading
        assert m["value"] > 0 and m["details"]["task"] == "kmb_tiny_long" and m["details"]["questions"] == 6
        assert m["details"]["answer_tokens"] > 0  # beside the seconds: longer answers take longer to write
    icl = measures["read_icl_window"]["details"]
    assert icl["memory"] == "icl@study" and icl["sections"] == 24 and 0 < icl["sections_dropped"] < 24
    assert 0 < icl["truncated_share"] < 1 and icl["questions_truncated"] == 1.0  # the window cut the document
    assert measures["read_rag"]["details"]["memory"] == "rag@study" and "top 3" in measures["read_rag"]["label"]
    ml = measures["multilora_load"]["details"]
    assert ml["modules"] > 1 and ml["module_steps"] == 1 and "split=window" in ml["memory"]
    ratios = {r["name"]: r for r in doc["ratios"]}
    assert set(ratios) == {
        "read_icl_window_vs_none", "read_icl_window_flops_vs_none", "read_rag_vs_none", "batching_speedup",
        "multilora_preloaded_speedup",
        "multilora_batched_speedup", "multilora_load_vs_none", "multilora_preloaded_vs_none",
        "multilora_preloaded_batched_vs_none", "multilora_preloaded_vs_rag", "multilora_preloaded_vs_icl_window",
    }  # fmt: skip
    for r in ratios.values():
        assert r["value"] == pytest.approx(measures[r["numerator"]]["value"] / measures[r["denominator"]]["value"])
    assert ratios["multilora_load_vs_none"]["denominator"] == "read_none_one_at_a_time"
    assert ratios["multilora_preloaded_vs_rag"]["denominator"] == "read_rag_one_at_a_time"  # the study's setting
    table = perf_table(doc)
    assert "| ratio | measured |" in table and "target" not in table and "≥ 5×" not in table and "80%" not in table
    assert "ICL cut at the window" in table and "of the document cut" not in table.split("ICL cut at the window")[0]
    assert "attention " + doc["model"]["attention"] in table and "trained 1 step(s) each" in table
    assert table.count(" answer tokens") == len(doc["measures"]) - 2  # all but the peak and the resident memory


def test_presets_by_name_and_questions_spread():
    assert dict(PERF_PRESETS) == {
        "full": PerfConfig(),
        "quick": QUICK,
        "q15": Q15,
        "reading": READING,
        "pages": PAGES,
        "training": TRAINING,
        "distill": DISTILL,
    }
    assert Q15.read_task == Q15.multilora_task == "kmb_paperqa_longdoc" and Q15.read_questions == 30
    assert Q15.steps == ("reading", "multilora") and not targets_for(Q15) and Q15.icl_contexts == (WINDOW,)
    assert dict(Q15.multilora_fields)["window_tokens"] == 2048 and dict(Q15.multilora_fields)["window_overlap"] == 200
    assert set(STEP_RUNS) == set(STEPS)
    with pytest.raises(ValueError, match="given twice: quick"):
        by_name(PerfConfig(), QUICK, dataclasses.replace(Q15, preset="quick"))
    with pytest.raises(UserError, match="unknown perf step"):
        perf_config(PerfConfig(), steps=("reading", "training"))
    with pytest.raises(UserError, match=r"unknown reader.*known: none, icl, rag"):
        perf_config(PerfConfig(), one_at_a_time=("lora",))
    asked = evenly_spread(450, 30)  # the long document lists its questions paper by paper, 30 each
    assert len(asked) == 30 and {i // 30 for i in asked} == set(range(15))
    assert evenly_spread(5, 8) == evenly_spread(5, None) == [0, 1, 2, 3, 4]


def test_an_unknown_preset_is_a_one_line_error(capsys):
    assert main(["perf", "--preset", "q16"]) == 2
    err = capsys.readouterr().err
    known = "full, quick, q15, reading, pages, training, distill"
    assert err == f"kmbench: error: unknown perf preset 'q16'; known: {known}\n"
    assert main(["perf", "--quick", "--preset", "q15"]) == 2
    assert "--quick is --preset quick" in capsys.readouterr().err
