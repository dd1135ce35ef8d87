"""What `make perf` measures and at what size: the full reference settings and a `--quick` smoke size."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.config import check
from bench.core.errors import UserError

Fields = tuple[tuple[str, Any], ...]  # config fields as pairs, so the frozen config stays hashable


@dataclass(frozen=True)
class PerfConfig:
    """Every size `make perf` uses; the defaults are the reference run, `QUICK` a smoke test of it."""

    preset: str = "full"  # a name for the JSON: which settings made these numbers
    model: str = "smollm2-135m"
    include_paths: tuple[Path, ...] = ()
    seed: int = 0
    batch_size: int = 16  # the reader's, as `kmbench run` uses it
    # matmul peak: best of `peak_repeats` products of two size x size matrices (0: 2048 on CPU, 8192 on CUDA)
    peak_size: int = 0
    peak_repeats: int = 5
    # LoRA on PhoneBook lines: the study's 1K (48 facts), the lora memory's defaults, checkpoints
    # every `eval_every` steps (0: once per epoch) until `target_metric` reaches `target_score`
    lines_task: str = "kmb_phonebook_study_1k"
    lines_facts: int = 0  # 0: all the task's facts; > 0: the first N (and their questions)
    lora_fields: Fields = ()  # lora config fields changed from the memory's defaults
    eval_every: int = 0
    target_metric: str = "exact_match"
    target_score: float = 0.95
    # LoRA on long pages: `pages_steps` steps of `pages_batch` pages, each cut to `pages_tokens`
    pages_task: str = "kmb_paperqa_all"
    pages_tokens: int = 2048
    pages_batch: int = 4
    pages_steps: int = 2
    # reading: the first `read_questions` questions closed book, with ICL at each context size, with RAG
    read_task: str = "kmb_phonebook_16k"
    read_questions: int = 16
    icl_contexts: tuple[int, ...] = (1024, 4096, 8192)  # tokens of context; capped by what the window leaves
    icl_bounds: tuple[float, ...] = (0.0, 1.5, 2.0)  # each context's target: at most this x closed book (0: none)
    # multi-LoRA: K oracle-routed modules, answered with the module loaded per question or preloaded
    multilora_task: str = "kmb_phonebook_1k"
    multilora_modules: int = 4
    multilora_questions: int = 0  # 0: all the task's questions
    multilora_fields: Fields = ()  # multilora config fields (e.g. fewer steps for a smoke run)

    def __post_init__(self) -> None:
        object.__setattr__(self, "include_paths", tuple(Path(p) for p in self.include_paths))
        check(self.batch_size > 0, "batch_size must be positive")
        check(self.peak_size >= 0 and self.peak_repeats > 0, "peak_size must be >= 0 and peak_repeats positive")
        check(self.lines_facts >= 0, "lines_facts must be >= 0 (0: all)")
        check(self.eval_every >= 0, "eval_every must be >= 0 (0: once per epoch)")
        check(0.0 < self.target_score <= 1.0, "target_score must be in (0, 1]")
        check(min(self.pages_tokens, self.pages_batch, self.pages_steps) > 0, "pages sizes must be positive")
        check(self.read_questions > 0, "read_questions must be positive")
        check(bool(self.icl_contexts) and min(self.icl_contexts) > 0, "icl_contexts must be positive token counts")
        check(len(self.icl_bounds) == len(self.icl_contexts), "give one bound per ICL context (0: no target)")
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
    read_questions=4,
    icl_contexts=(512, 1024, 2048),
    multilora_questions=8,
    multilora_fields=(("max_steps", 1),),
)


def perf_config(base: PerfConfig | None = None, **changes: Any) -> PerfConfig:
    """`base` (the full settings by default) with `changes`; an invalid value is the user's mistake."""
    try:
        return dataclasses.replace(base or PerfConfig(), **changes)
    except (TypeError, ValueError) as exc:
        raise UserError(f"perf: {exc}") from None
