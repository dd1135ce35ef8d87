"""`make perf` end to end: one process, one model, the preset's measurements, one JSON document."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from bench.core.config import config_dict
from bench.core.git import git_state
from bench.core.memory import LoadedModel
from bench.harness.taskspec import task_manager
from bench.model.adapters import bare_model
from bench.model.cost import ResidentPeak
from bench.model.loading import load_model, pick_device
from bench.run.environment import environment
from bench.study.perf.config import PerfConfig
from bench.study.perf.peak import Peak, measure_peak
from bench.study.perf.profile import profile_step
from bench.study.perf.quantities import Measure, peak_measure, ratio_rows, ratios_for, target_rows, targets_for
from bench.study.perf.reading import multilora_measures, reading_measures
from bench.study.perf.training import distill_measures, lines_measures, pages_measure, precision_measures

log = logging.getLogger(__name__)
SCHEMA = "kmbench-perf/1"

Step = Callable[[LoadedModel, Any, PerfConfig], list[Measure]]
# Each of `config.STEPS`: what it measures (for the log) and how.
STEP_RUNS: Mapping[str, tuple[str, Step]] = MappingProxyType(
    {
        "lines": ("LoRA on PhoneBook lines, to the target score", lines_measures),
        "pages": ("LoRA on long pages", lambda lm, manager, cfg: [pages_measure(lm, manager, cfg)]),
        "precision": ("LoRA on PhoneBook lines in fp32 and bf16", precision_measures),
        "profile": ("where a LoRA step's time goes", profile_step),
        "distill": ("deep context distillation's step, its teacher every step and once", distill_measures),
        "reading": ("reading: closed book, ICL, RAG, one at a time", reading_measures),
        "multilora": ("multi-LoRA loading", multilora_measures),
    }
)


def run_perf(cfg: PerfConfig, lm: LoadedModel | None = None) -> dict[str, Any]:
    """Measure the peak, then the preset's steps (LoRA training, reading, multi-LoRA loading) on the same model."""
    started = time.perf_counter()
    lm = lm or load_model(cfg.model)
    manager = task_manager(cfg.include_paths)
    first = peak_now(lm, cfg, "at the start")
    measures: list[Measure] = []
    resident: dict[str, float] = {}
    for name in cfg.steps:
        what, step = STEP_RUNS[name]
        log.warning("perf: %s", what)
        with bare_model(lm), ResidentPeak() as held:  # every measurement starts from the bare model
            measures += step(lm, manager, cfg)
        resident[name] = held.megabytes / 1024
    peak = first.best(peak_now(lm, cfg, "again at the end"))
    measures.insert(0, peak_measure(peak, lm.model.dtype))
    if resident:  # the most any step held, sampled while it ran: the memory cap's measure
        worst = max(resident, key=resident.__getitem__)
        details = {"by_step_gb": resident, "step": worst, "sampled_every_s": 0.1}
        measures.append(Measure("resident_peak", "peak resident memory of any step", resident[worst], "GB", details))
    return perf_document(cfg, lm, peak, measures, time.perf_counter() - started)


def peak_now(lm: LoadedModel, cfg: PerfConfig, when: str) -> Peak:
    """The matmul peak on the model's device, logged."""
    peak = measure_peak(lm.device, cfg.peak_size, cfg.peak_repeats)
    log.warning("perf: matmul peak %s: fp32 %.1f GFLOP/s, bf16 %s", when, peak.fp32_gflops, _gflops(peak.bf16_gflops))
    return peak


def peak_only(repeats: int = 5) -> dict[str, Any]:
    """The peak alone, on the device a run would use, for quoting beside a cold run's time."""
    return dataclasses.asdict(measure_peak(pick_device()[0], 0, repeats))


def _gflops(value: float | None) -> str:
    return "not measured (no native bf16)" if value is None else f"{value:.1f} GFLOP/s"


def attention_kernels(device: torch.device) -> dict[str, bool] | None:
    """Which kernels torch's SDPA may pick on CUDA (flash attention among them, where the GPU has
    it), and whether the flash-attn package is installed; None off CUDA, whose switches these are."""
    if device.type != "cuda":
        return None
    return {
        "sdpa_flash": torch.backends.cuda.flash_sdp_enabled(),
        "sdpa_mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
        "sdpa_math": torch.backends.cuda.math_sdp_enabled(),
        "flash_attn_package": importlib.util.find_spec("flash_attn") is not None,
    }


def perf_document(cfg: PerfConfig, lm: LoadedModel, peak: Peak, measures: list[Measure], seconds: float) -> dict:
    """The JSON `make perf` writes: provenance, the peak, every measure, ratios, and targets met or not."""
    commit, dirty = git_state()
    ratios = ratio_rows(measures, ratios_for(cfg))
    folders = [str(p) for p in cfg.include_paths]
    return {
        "schema": SCHEMA,
        "preset": cfg.preset,
        "commit": commit,
        "dirty": dirty,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": seconds,
        "config": config_dict(dataclasses.replace(cfg, include_paths=())) | {"include_paths": folders},
        "env": environment(),
        "model": {
            "name": lm.name,
            "model_id": lm.model_id,
            "params": lm.n_params,
            "dtype": str(lm.model.dtype).removeprefix("torch."),
            "device": str(lm.device),
            "attention": getattr(lm.model.config, "_attn_implementation", None),  # eager, sdpa, flash_attention_2
            "attention_kernels": attention_kernels(lm.device),
        },
        "peak": dataclasses.asdict(peak),
        "measures": [dataclasses.asdict(m) for m in measures],
        "ratios": ratios,
        "targets": target_rows(measures, ratios, targets_for(cfg)),
    }


def write_perf(doc: dict[str, Any], path: Path) -> None:
    """Sorted, indented JSON, so two commits' files diff line by line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
