"""Measures, the ratios between them, and the speed targets: every ratio is computed here from
measured numbers, so a target can only be met by what this run measured."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from bench.study.perf.config import WINDOW, PerfConfig
from bench.study.perf.peak import Peak


@dataclass(frozen=True)
class Measure:
    """One number `make perf` measured, its unit, and what it was measured on (`details`)."""

    name: str
    label: str
    value: float | None  # None: measured, but the quantity was not reached (e.g. the score never got there)
    unit: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ratio:
    """`numerator / denominator`, both measures of this run."""

    name: str
    label: str
    numerator: str
    denominator: str
    unit: str = "×"


@dataclass(frozen=True)
class Target:
    """A bound on a measure or ratio: `quantity op bound`, op being "<=" or ">="."""

    name: str
    label: str
    quantity: str
    op: str
    bound: float

    def met(self, measured: float | None) -> bool:
        """Whether a measured value meets the bound; one not measured or not reached does not."""
        if measured is None:
            return False
        return measured <= self.bound if self.op == "<=" else measured >= self.bound


def peak_measure(peak: Peak, dtype: torch.dtype) -> Measure:
    """The peak in the model's dtype as a measure, so MFU is a ratio like every other."""
    name = "bf16" if dtype == torch.bfloat16 and peak.bf16_gflops else "fp32"
    return Measure(
        "peak", f"matmul peak, {name} (the model's dtype)", peak.for_dtype(dtype), "GFLOP/s", {"dtype": name}
    )


def context_label(tokens: int) -> str:
    """1024 -> "1K"; sizes that are no whole K stay numbers; `WINDOW` -> "window"."""
    if tokens == WINDOW:
        return "window"
    return f"{tokens // 1024}K" if tokens % 1024 == 0 else str(tokens)


def icl_name(tokens: int) -> str:
    """The measure name of ICL reading at this context size: 4096 -> "read_icl_4k", `WINDOW` -> "read_icl_window"."""
    return f"read_icl_{context_label(tokens).lower()}"


def icl_label(tokens: int) -> str:
    """The reading's name: ICL at a context size ("ICL at 4K context"), or cut at the window."""
    return "ICL cut at the window" if tokens == WINDOW else f"ICL at {context_label(tokens)} context"


def ratios_for(cfg: PerfConfig) -> list[Ratio]:
    """MFU (training against the peak), reading against the closed book, batching against one at a
    time, preloading against loading per question; multi-LoRA against the closed book too where both
    read the same questions (same task, same count), one at a time against one at a time."""
    icl = [
        Ratio(f"{icl_name(n)}_vs_none", f"{icl_label(n)} / closed book, s/question", icl_name(n), "read_none")
        for n in cfg.icl_contexts
    ] + [
        Ratio(f"{icl_name(n)}_flops_vs_none", f"{icl_label(n)} / closed book, FLOPs a question must compute",
              f"{icl_name(n)}_flops", "read_none_flops")
        for n in cfg.icl_contexts
    ]  # fmt: skip
    same_questions = (cfg.multilora_task, cfg.multilora_questions) == (cfg.read_task, cfg.read_questions)
    one = "read_none_one_at_a_time"
    multilora = [
        Ratio("multilora_load_vs_none", "multi-LoRA loaded per question / closed book, both one at a time",
              "multilora_load", one),
        Ratio("multilora_preloaded_vs_none", "multi-LoRA preloaded / closed book, both one at a time",
              "multilora_preloaded", one),
        Ratio("multilora_preloaded_batched_vs_none", "multi-LoRA preloaded and batched / closed book, batched",
              "multilora_preloaded_batched", "read_none"),
        Ratio("multilora_preloaded_vs_rag", "multi-LoRA preloaded / RAG, both one at a time",
              "multilora_preloaded", "read_rag_one_at_a_time"),
        *[Ratio(f"multilora_preloaded_vs_{icl_name(n).removeprefix('read_')}",
                f"multi-LoRA preloaded / {icl_label(n)}, both one at a time",
                "multilora_preloaded", f"{icl_name(n)}_one_at_a_time") for n in cfg.icl_contexts],
    ] if same_questions else []  # fmt: skip
    return [
        Ratio("lora_lines_mfu", "LoRA MFU, PhoneBook lines", "lora_lines", "peak", "of peak"),
        Ratio("lora_pages_mfu", "LoRA MFU, long pages", "lora_pages", "peak", "of peak"),
        Ratio("lora_bf16_speedup", "LoRA bf16 / fp32, FLOP/s on lines", "lora_lines_bf16", "lora_lines_fp32"),
        Ratio("lora_bf16_mfu", "LoRA MFU in bf16, against the bf16 peak", "lora_lines_bf16", "peak_bf16", "of peak"),
        Ratio(
            "lora_step_matmul_share",
            "LoRA step on lines: its matmuls' share of it",
            "lora_step_matmul",
            "lora_step",
            "of the step",
        ),
        Ratio(
            "lora_step_matmul_efficiency",
            "LoRA step on lines: the matmuls' own speed / peak",
            "lora_step_matmul_speed",
            "peak",
            "of peak",
        ),
        Ratio(
            "dcd_teacher_once_speedup",
            "DCD step: teacher every step / once per example",
            "distill_every",
            "distill_once",
        ),
        Ratio("dcd_once_vs_ntp", "DCD step, teacher once / next-token step", "distill_once", "distill_ntp"),
        *icl,
        Ratio("read_rag_vs_none", "RAG / closed book, s/question", "read_rag", "read_none"),
        Ratio("batching_speedup", "one at a time / batched, closed book", "read_none_one_at_a_time", "read_none"),
        Ratio(
            "multilora_preloaded_speedup", "multi-LoRA: loading / preloaded", "multilora_load", "multilora_preloaded"
        ),
        Ratio(
            "multilora_batched_speedup",
            "multi-LoRA: loading / preloaded and batched",
            "multilora_load",
            "multilora_preloaded_batched",
        ),
        *multilora,
    ]


def targets_for(cfg: PerfConfig) -> list[Target]:
    """The speed targets, where the preset checks them; the ICL ones follow the configured
    contexts and their bounds."""
    if not cfg.check_targets:
        return []
    facts = "all" if not cfg.lines_facts else str(cfg.lines_facts)
    icl = [
        Target(
            f"{icl_name(n)}_vs_none",
            f"{icl_label(n)} ≤ {bound:g}× closed book",
            f"{icl_name(n)}_vs_none",
            "<=",
            bound,
        )
        for n, bound in zip(cfg.icl_contexts, cfg.icl_bounds, strict=True)
        if bound > 0
    ]
    return [
        Target("lora_lines_mfu", "LoRA MFU on PhoneBook lines ≥ 80% of peak", "lora_lines_mfu", ">=", 0.80),
        Target("lora_pages_mfu", "LoRA MFU on long pages ≥ 60% of peak", "lora_pages_mfu", ">=", 0.60),
        Target("lora_bf16_speedup", "LoRA in bf16 ≥ 1.7× fp32 on lines", "lora_bf16_speedup", ">=", 1.7),
        Target("lora_bf16_mfu", "LoRA MFU in bf16 ≥ 80% of the bf16 peak", "lora_bf16_mfu", ">=", 0.80),
        Target(
            "tokens_to_target",
            f"tokens to ≥{cfg.target_score:.0%} on {cfg.lines_task} ({facts} facts) ≤ 13,430",
            "tokens_to_target",
            "<=",
            13430,
        ),
        *icl,
        Target(
            "multilora_batched_speedup",
            "multi-LoRA preloaded+batched ≥ 5× loading per question",
            "multilora_batched_speedup",
            ">=",
            5.0,
        ),
        Target("resident_peak", "peak resident memory of any step ≤ 8 GB", "resident_peak", "<=", 8.0),
    ]


def ratio_rows(measures: Sequence[Measure], ratios: Sequence[Ratio]) -> list[dict[str, Any]]:
    """Each ratio between two measures this run took (the others are left out: a preset may run
    only some steps); its value None where either side was not reached, or the denominator is zero."""
    values = {m.name: m.value for m in measures}
    rows = []
    for r in ratios:
        if r.numerator not in values or r.denominator not in values:
            continue
        top, bottom = values.get(r.numerator), values.get(r.denominator)
        value = top / bottom if top is not None and bottom else None
        rows.append({"name": r.name, "label": r.label, "numerator": r.numerator, "denominator": r.denominator,
                     "unit": r.unit, "value": value})  # fmt: skip
    return rows


def target_rows(
    measures: Sequence[Measure], ratios: Sequence[Mapping[str, Any]], targets: Sequence[Target]
) -> list[dict[str, Any]]:
    """Each target whose quantity this run measured (a preset may run only some steps) beside
    what it measured, and whether that meets it."""
    values = {m.name: m.value for m in measures} | {r["name"]: r["value"] for r in ratios}
    return [
        {
            "name": t.name,
            "label": t.label,
            "quantity": t.quantity,
            "op": t.op,
            "target": t.bound,
            "measured": values.get(t.quantity),
            "met": t.met(values.get(t.quantity)),
        }
        for t in targets
        if t.quantity in values
    ]
