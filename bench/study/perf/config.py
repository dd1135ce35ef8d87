"""What `make perf` measures and at what size, as named presets: `full` (the reference), `quick`
(a smoke test of it) and `q15` (the study's Q15: answering latency on the long document)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bench.core.config import DEFAULT_MODEL, DEFAULT_PROFILE, check
from bench.core.errors import UserError
from bench.harness.roles import task_roles

Fields = tuple[tuple[str, Any], ...]  # config fields as pairs, so the frozen config stays hashable
# The measurement steps after the peak (which always runs: it is cheap and gives every ratio its context).
STEPS = ("lines", "pages", "precision", "profile", "distill", "reading", "multilora")
WINDOW = 0  # an ICL context size meaning "what the model's window leaves"
READERS = ("none", "icl", "rag")  # the memories the reading step times, batched and (some) one at a time


@dataclass(frozen=True)
class PerfConfig:
    """Every size `make perf` uses; the defaults are the reference run, `QUICK` a smoke test of it,
    `Q15` the study's long-document latency question."""

    preset: str = "full"  # its name in `PERF_PRESETS` and the JSON: which settings made these numbers
    model: str = DEFAULT_MODEL
    include_paths: tuple[Path, ...] = ()
    seed: int = 0
    batch_size: int = 16  # the reader's, as `kmbench run` uses it
    steps: tuple[str, ...] = STEPS  # which of `STEPS` run, in this order
    profile: str = DEFAULT_PROFILE  # the named protocol ICL, RAG and multi-LoRA start from (baselines/profiles.py)
    check_targets: bool = True  # print the speed targets (README, Performance) beside the measures (False: ratios only)
    # matmul peak: best of `peak_repeats` products of two size x size matrices (0: 2048 on CPU, 8192 on CUDA)
    peak_size: int = 0
    peak_repeats: int = 5
    # LoRA on PhoneBook lines: the study's 1K (48 facts), the lora memory's defaults, checkpoints
    # every `eval_every` steps (0: once per epoch) until `target_metric` reaches `target_score`
    lines_task: str = ""  # "": the workloads in tasks/roles.yaml (perf), as are the other *_task fields
    lines_facts: int = 0  # 0: all the task's facts; > 0: the first N (and their questions)
    lora_fields: Fields = ()  # lora config fields changed from the memory's defaults
    eval_every: int = 0
    target_metric: str = "exact_match"
    target_score: float = 0.95
    # LoRA on long pages: `pages_steps` steps of `pages_batch` pages, each cut to `pages_tokens`
    pages_task: str = ""
    pages_tokens: int = 2048
    pages_batch: int = 4
    pages_steps: int = 2
    # LoRA on the same lines in fp32 and in bf16 (`lora.precision`), this many steps each: the speed-up,
    # and bf16's MFU against the bf16 peak (skipped where the device has no native bf16)
    precision_steps: int = 20
    # LoRA on the same lines under torch's profiler, this many steps after a warm-up step: where a
    # step's time goes (matmuls, attention, loss, optimizer, memory, the rest) and the matmuls' own speed
    profile_steps: int = 5
    # deep context distillation on the same lines, this many steps each: its teacher run at every step
    # (as the study's trainer does) and computed once per example, beside a next-token step
    distill_steps: int = 4
    # reading: `read_questions` questions spread evenly over the task, closed book, with ICL at each
    # context size, with RAG
    read_task: str = ""
    read_questions: int = 16
    icl_contexts: tuple[int, ...] = (1024, 4096, 8192)  # context tokens, capped by the window (WINDOW: all it leaves)
    icl_bounds: tuple[float, ...] = (0.0, 1.5, 2.0)  # each context's target: at most this x closed book (0: none)
    # which of `READERS` are timed a second time one question at a time (ICL at each context), as
    # the study times its questions one after another; a JSON without the field timed closed book only
    one_at_a_time: tuple[str, ...] = ("none",)
    # multi-LoRA: K oracle-routed modules, answered with the module loaded per question or preloaded
    multilora_task: str = ""
    multilora_modules: int = 4
    multilora_questions: int = 0  # 0: all the task's questions; else this many, spread evenly over them
    multilora_fields: Fields = ()  # multilora config fields (e.g. fewer steps for a smoke run, a window split)

    def __post_init__(self) -> None:
        object.__setattr__(self, "include_paths", tuple(Path(p) for p in self.include_paths))
        for name in ("lines_task", "pages_task", "read_task", "multilora_task"):
            object.__setattr__(self, name, getattr(self, name) or task_roles().perf[name])
        check(self.batch_size > 0, "batch_size must be positive")
        unknown = [s for s in self.steps if s not in STEPS]
        check(not unknown, f"unknown perf step(s) {', '.join(unknown)}; known: {', '.join(STEPS)}")
        check(len(set(self.steps)) == len(self.steps), "a perf step is named twice")
        check(self.peak_size >= 0 and self.peak_repeats > 0, "peak_size must be >= 0 and peak_repeats positive")
        check(self.lines_facts >= 0, "lines_facts must be >= 0 (0: all)")
        check(self.eval_every >= 0, "eval_every must be >= 0 (0: once per epoch)")
        check(0.0 < self.target_score <= 1.0, "target_score must be in (0, 1]")
        check(min(self.pages_tokens, self.pages_batch, self.pages_steps) > 0, "pages sizes must be positive")
        check(self.profile_steps > 0, "profile_steps must be positive")
        check(self.distill_steps > 0, "distill_steps must be positive")
        check(self.read_questions > 0, "read_questions must be positive")
        check(bool(self.icl_contexts) and min(self.icl_contexts) >= 0, "icl_contexts: token counts (0: the window)")
        check(len(self.icl_bounds) == len(self.icl_contexts), "give one bound per ICL context (0: no target)")
        odd = [r for r in self.one_at_a_time if r not in READERS]
        check(not odd, f"one_at_a_time: unknown reader(s) {', '.join(odd)}; known: {', '.join(READERS)}")
        check(self.multilora_modules > 0 and self.multilora_questions >= 0, "multilora sizes must be positive")


# About a minute or two on the default model on 2 CPU cores: every measurement runs, on small sizes.
QUICK = PerfConfig(
    preset="quick",
    peak_size=1024,
    peak_repeats=3,
    lines_facts=8,
    lora_fields=(("batch_size", 8), ("max_steps", 12)),
    eval_every=4,
    pages_tokens=512,
    pages_batch=2,
    pages_steps=1,
    precision_steps=2,
    profile_steps=2,
    distill_steps=2,
    read_questions=4,
    icl_contexts=(512, 1024, 2048),
    multilora_questions=8,
    multilora_fields=(("max_steps", 1),),
)


# The study's Q15: answering latency on the long document (`longdoc_task`, ~13K tokens in 15
# sections, 256-token answers), 30 questions spread over its 15 papers, on the study's protocol
# (ICL with its instruction; RAG top 3 of 512-token chunks): closed book, ICL cut at the window,
# RAG, and multi-LoRA over 2,048-token windows with 200 of overlap, oracle-routed; each reader
# also one question at a time, as the study times 30 questions one after another. Its modules
# train one step each: latency does not depend on what a module learned. No LoRA training
# throughput, and none of the speed targets (which are about PhoneBook, not this document).
Q15 = PerfConfig(
    preset="q15",
    steps=("reading", "multilora"),
    profile="study",
    check_targets=False,
    read_task=task_roles().perf["longdoc_task"],
    read_questions=30,
    icl_contexts=(WINDOW,),
    icl_bounds=(0.0,),
    one_at_a_time=READERS,
    multilora_task=task_roles().perf["longdoc_task"],
    multilora_questions=30,
    multilora_fields=(("split", "window"), ("window_tokens", 2048), ("window_overlap", 200), ("max_steps", 1)),
)


def by_name(*configs: PerfConfig) -> Mapping[str, PerfConfig]:
    """Presets keyed by their own `preset` name, read-only; a name given twice is a mistake here."""
    twice = [name for name, n in Counter(c.preset for c in configs).items() if n > 1]
    if twice:
        raise ValueError(f"perf preset name(s) given twice: {', '.join(twice)}")
    return MappingProxyType({c.preset: c for c in configs})


# Reading alone, as the full preset reads (closed book, ICL at 1K, 4K and 8K, RAG): a few minutes,
# for checking the ICL targets without training anything.
READING = PerfConfig(preset="reading", steps=("reading",))
# LoRA on long pages alone, as the full preset trains them: the step that once held 20 GB, for
# checking the memory cap (its resident peak) in a couple of minutes.
PAGES = PerfConfig(preset="pages", steps=("pages",))

# Where a LoRA step's time goes (the profiled steps on lines) and the fp32/bf16 comparison beside
# it: what limits LoRA's MFU, in a few minutes.
TRAINING = PerfConfig(preset="training", steps=("precision", "profile"))
# Deep context distillation's step with its teacher at every step and once per example, beside a
# next-token step on the same lines: a few minutes.
DISTILL = PerfConfig(preset="distill", steps=("distill",))

PERF_PRESETS = by_name(PerfConfig(), QUICK, Q15, READING, PAGES, TRAINING, DISTILL)


def preset(name: str) -> PerfConfig:
    """A preset by name; an unknown one is the user's mistake, said in one line."""
    if name not in PERF_PRESETS:
        raise UserError(f"unknown perf preset {name!r}; known: {', '.join(PERF_PRESETS)}")
    return PERF_PRESETS[name]


def perf_config(base: PerfConfig | None = None, **changes: Any) -> PerfConfig:
    """`base` (the full settings by default) with `changes`; an invalid value is the user's mistake."""
    try:
        return dataclasses.replace(base or PerfConfig(), **changes)
    except (TypeError, ValueError) as exc:
        raise UserError(f"perf: {exc}") from None
