"""`make perf` end to end: one process, one model, every measurement, one JSON document."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core.config import config_dict
from bench.core.memory import LoadedModel
from bench.harness.taskspec import task_manager
from bench.model.adapters import unload_adapters
from bench.model.loading import load_model, pick_device
from bench.run.environment import environment, git_state
from bench.study.perf.config import PerfConfig
from bench.study.perf.peak import Peak, measure_peak
from bench.study.perf.quantities import Measure, peak_measure, ratio_rows, ratios_for, target_rows, targets_for
from bench.study.perf.reading import multilora_measures, reading_measures
from bench.study.perf.training import lines_measures, pages_measure

log = logging.getLogger(__name__)
SCHEMA = "kmbench-perf/1"


def run_perf(cfg: PerfConfig, lm: LoadedModel | None = None) -> dict[str, Any]:
    """Measure the peak, then LoRA training, reading and multi-LoRA loading on the same model."""
    started = time.perf_counter()
    lm = lm or load_model(cfg.model)
    manager = task_manager(cfg.include_paths)
    first = peak_now(lm, cfg, "at the start")
    steps: list[tuple[str, Callable[[], list[Measure]]]] = [
        ("LoRA on PhoneBook lines, to the target score", lambda: lines_measures(lm, manager, cfg)),
        ("LoRA on long pages", lambda: [pages_measure(lm, manager, cfg)]),
        ("reading: closed book, ICL, RAG, one at a time", lambda: reading_measures(lm, manager, cfg)),
        ("multi-LoRA loading", lambda: multilora_measures(lm, manager, cfg)),
    ]
    measures: list[Measure] = []
    for what, step in steps:
        log.warning("perf: %s", what)
        try:
            measures += step()
        finally:  # every measurement starts from the bare model
            unload_adapters(lm)
    peak = first.best(peak_now(lm, cfg, "again at the end"))
    measures.insert(0, peak_measure(peak, lm.model.dtype))
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


def perf_document(cfg: PerfConfig, lm: LoadedModel, peak: Peak, measures: list[Measure], seconds: float) -> dict:
    """The JSON `make perf` writes: provenance, the peak, every measure, ratios, and targets met or not."""
    commit, dirty = git_state()
    ratios = ratio_rows(measures, ratios_for(cfg))
    folders = [str(p) for p in cfg.include_paths]
    return {
        "schema": SCHEMA,
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
            "attention": getattr(lm.model.config, "_attn_implementation", None),
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
