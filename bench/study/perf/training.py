"""LoRA training throughput (model FLOP/s and its share of the peak) and tokens to a target score.

Training goes through the `lora` memory's own loop (`bench.run.training`), uncached, into a
scratch folder. FLOPs follow the records' convention (`adapter_footprint`): 4 x base
parameters per trained token.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.answer.lm import MemoryLM, evaluate
from bench.answer.reader import Reader, truncate_to_budget
from bench.core.memory import Corpus, Document, LoadedModel, Memory
from bench.core.metrics import parse_results
from bench.harness.taskspec import task_spec
from bench.run.memories import make_memory
from bench.run.training import lora_config, train_lora, training_flops
from bench.study.perf.config import PerfConfig
from bench.study.perf.peak import bf16_native, measure_peak
from bench.study.perf.quantities import Measure


def score(lm: LoadedModel, memory: Memory, task: str, manager: Any, cfg: PerfConfig, limit: int | None) -> float:
    """The task's `target_metric` through lm-eval, read as a run reads; the global RNG is left as it was."""
    devices = [lm.device] if lm.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        results = evaluate(MemoryLM(memory, Reader(lm, cfg.batch_size)), task, manager, cfg.seed, limit=limit)
    metrics = parse_results(results["results"][task])
    return metrics[cfg.target_metric][0]


@dataclass
class Checkpoints:
    """The training hook: every `every` steps, score the model as it is; stop at the target.

    A checkpoint's seconds count from the call to train (tokenizing and wrapping the model
    included, well under a second) with the time spent scoring taken out.
    """

    lm: LoadedModel
    task: str
    manager: Any
    cfg: PerfConfig
    limit: int | None
    every: int
    started: float = field(default_factory=time.perf_counter)
    scoring_seconds: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, step: int, tokens: int, net: Any) -> bool:
        if step % self.every:
            return False
        paused = time.perf_counter()
        was_training = net.training
        net.eval()
        try:  # the LoRA layers are injected into the model itself, so the closed-book path reads them
            value = score(
                self.lm, make_memory("none", {}, self.cfg.seed), self.task, self.manager, self.cfg, self.limit
            )
        finally:
            net.train(was_training)
        self.rows.append(
            {"step": step, "tokens": tokens, "seconds": paused - self.started - self.scoring_seconds, "score": value}
        )
        self.scoring_seconds += time.perf_counter() - paused
        return value >= self.cfg.target_score


def throughput(name: str, label: str, log: dict[str, Any], seconds: float, lm: LoadedModel) -> Measure:
    """Model FLOP/s of a training run; its share of the peak (MFU) is a ratio (`quantities`)."""
    details = {
        "tokens": log["tokens"],
        "steps": log["steps"],
        "seconds": seconds,
        "dtype": str(lm.model.dtype).removeprefix("torch."),
    }
    return Measure(name, label, training_flops(log, lm.n_params) / seconds / 1e9, "GFLOP/s", details)


def lines_corpus(manager: Any, cfg: PerfConfig) -> Corpus:
    """The lines task's facts, its first `lines_facts` when set."""
    corpus = task_spec(manager, cfg.lines_task).corpus()
    return Corpus(corpus.name, corpus.documents[: cfg.lines_facts]) if cfg.lines_facts else corpus


def lines_measures(lm: LoadedModel, manager: Any, cfg: PerfConfig) -> list[Measure]:
    """LoRA on the study's PhoneBook lines: its throughput, and the tokens and seconds it took to
    reach the target score (checked every `eval_every` steps; training stops at the first
    checkpoint that reaches it)."""
    corpus = lines_corpus(manager, cfg)
    limit = cfg.lines_facts or None
    fields = dict(cfg.lora_fields)
    every = cfg.eval_every or math.ceil(len(corpus.documents) / lora_config(fields, cfg.seed).batch_size)
    checkpoints = Checkpoints(lm, cfg.lines_task, manager, cfg, limit, every)
    with tempfile.TemporaryDirectory() as folder:
        checkpoints.started = time.perf_counter()
        log = train_lora(lm, corpus, fields, cfg.seed, Path(folder), checkpoints)
        seconds = log["seconds"] - checkpoints.scoring_seconds
    reached = next((row for row in checkpoints.rows if row["score"] >= cfg.target_score), None)
    facts = len(corpus.documents)
    rate = throughput("lora_lines", f"LoRA write, PhoneBook lines ({facts} facts)", log, seconds, lm)
    tokens = Measure(
        "tokens_to_target",
        f"tokens to {cfg.target_metric} ≥ {cfg.target_score:.0%}, {cfg.lines_task} ({facts} facts)",
        None if reached is None else reached["tokens"],
        "tokens",
        {
            "seconds": None if reached is None else reached["seconds"],
            "step": None if reached is None else reached["step"],
            "every_steps": every,
            "checked_during_training": True,
            "last_score": checkpoints.rows[-1]["score"],
            "checkpoints": checkpoints.rows,
        },
    )
    return [rate, tokens]


def precision_measures(lm: LoadedModel, manager: Any, cfg: PerfConfig) -> list[Measure]:
    """LoRA on the lines task in fp32 and in bf16 (`lora.precision`), `precision_steps` each, and the
    bf16 matmul peak, so the speed-up and bf16's MFU are ratios of this run's own numbers."""
    corpus = lines_corpus(manager, cfg)
    peak = measure_peak(lm.device, cfg.peak_size, cfg.peak_repeats)
    measures = [
        Measure("peak_bf16", "matmul peak, bf16", peak.bf16_gflops, "GFLOP/s", {"native": bf16_native(lm.device)})
    ]
    for precision in ("fp32", "bf16"):
        name, label = f"lora_lines_{precision}", f"LoRA write, PhoneBook lines, {precision}"
        if precision == "bf16" and not bf16_native(lm.device):
            measures.append(Measure(name, label, None, "GFLOP/s", {"skipped": "no native bf16 on this device"}))
            continue
        fields = {**dict(cfg.lora_fields), "max_steps": cfg.precision_steps, "precision": precision}
        with tempfile.TemporaryDirectory() as folder:
            log = train_lora(lm, corpus, fields, cfg.seed, Path(folder))
        measures.append(throughput(name, label, log, log["seconds"], lm))
    return measures


def pages_measure(lm: LoadedModel, manager: Any, cfg: PerfConfig) -> Measure:
    """LoRA throughput on long pages: a few steps over the pages task's documents, each cut to `pages_tokens`."""
    corpus = task_spec(manager, cfg.pages_task).corpus()
    pages = tuple(Document(d.id, truncate_to_budget(lm, d.contents, cfg.pages_tokens)[0]) for d in corpus.documents)
    fields = {**dict(cfg.lora_fields), "batch_size": cfg.pages_batch, "max_steps": cfg.pages_steps}
    with tempfile.TemporaryDirectory() as folder:
        log = train_lora(lm, Corpus(corpus.name, pages), fields, cfg.seed, Path(folder))
    per_page = log["tokens"] / (cfg.pages_batch * cfg.pages_steps)
    label = f"LoRA write, long pages ({cfg.pages_task}, ~{per_page:,.0f} tokens each)"
    return throughput("lora_pages", label, log, log["seconds"], lm)


def distill_measures(lm: LoadedModel, manager: Any, cfg: PerfConfig) -> list[Measure]:
    """Seconds a step on the lines task, `distill_steps` each: next-token LoRA, deep context
    distillation with its teacher run at every step (as the study's trainer runs it), and with the
    teacher's outputs computed once per example (what a run does; that pass is left out of the
    steps and given in the details)."""
    corpus = lines_corpus(manager, cfg)
    fields = {**dict(cfg.lora_fields), "max_steps": cfg.distill_steps}
    runs = [
        ("distill_ntp", "next-token LoRA step, PhoneBook lines", {}, 0),
        ("distill_every", "DCD step, its teacher run at every step", {"objective": "dcd"}, 0),
        ("distill_once", "DCD step, its teacher computed once per example", {"objective": "dcd"}, None),
    ]
    measures = []
    for name, label, objective, cache in runs:
        with tempfile.TemporaryDirectory() as folder:
            options = {} if cache is None else {"teacher_cache_bytes": cache}
            log = train_lora(lm, corpus, {**fields, **objective}, cfg.seed, Path(folder), **options)
        teaching = log.get("teacher_seconds", 0.0)
        details = {key: log[key] for key in ("steps", "tokens", "teacher_tokens", "teacher_cached") if key in log}
        details |= {
            "seconds": log["seconds"],
            "teacher_seconds": teaching,
            "dtype": str(lm.model.dtype).removeprefix("torch."),
        }
        measures.append(Measure(name, label, (log["seconds"] - teaching) / log["steps"], "s/step", details))
    return measures
