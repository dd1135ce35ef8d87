"""Where a LoRA training step's time goes: what limits MFU, measured rather than guessed.

After a warm-up step, some optimizer steps on the lines task are timed as they run, then as many
again under torch's profiler. Each operator's own time goes to one category; what no operator
accounts for is Python and framework time between them. The profiler slows the many small
operators, so the step's seconds come from the unprofiled steps; the matmuls' own seconds (long
kernels) from the profiled ones. Their FLOP/s against the peak says how fast the kernels run on
these shapes, their share of the step how much of it they are: MFU is about the product of the
two (less the matmul FLOPs the 4·N·tokens convention does not count).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bench.core.memory import LoadedModel
from bench.run.training import train_lora
from bench.study.perf.config import PerfConfig
from bench.study.perf.quantities import Measure
from bench.study.perf.training import lines_corpus

# Operator name fragments per category, matched in this order; an operator matching none is "other ops".
CATEGORIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_addmm_activation"),
        "attention": ("scaled_dot_product", "flash_attention", "efficient_attention"),
        "loss": ("log_softmax", "nll_loss", "cross_entropy"),
        "optimizer": ("_foreach", "adam", "_fused"),
        "memory": ("copy_", "_to_copy", "aten::cat", "aten::clone", "aten::empty", "aten::fill_", "aten::zero_",
                   "aten::zeros", "aten::index", "aten::contiguous", "aten::resize_"),
    }
)  # fmt: skip
OTHER, OUTSIDE = "other ops", "outside any op"


def category(op: str) -> str:
    """The category an operator's name falls in."""
    return next((name for name, parts in CATEGORIES.items() if any(p in op for p in parts)), OTHER)


def profile_step(lm: LoadedModel, manager: Any, cfg: PerfConfig) -> list[Measure]:
    """After one warm-up step, time `cfg.profile_steps` LoRA steps on the lines task as they run,
    then profile as many more: the profiler slows small operators down, so the step's own seconds
    come from the unprofiled ones and only the matmuls' seconds (long kernels, barely slowed) from
    the profiled ones."""
    from torch.profiler import ProfilerActivity, profile

    profiler = profile(activities=[ProfilerActivity.CPU], with_flops=True)
    n = cfg.profile_steps
    marks: dict[int, tuple[float, int]] = {}

    def on_step(step: int, tokens: int, net: Any) -> bool:
        if step in (1, n + 1, 2 * n + 1):
            marks[step] = (time.perf_counter(), tokens)
        if step == n + 1:
            profiler.start()
        if step == 2 * n + 1:
            profiler.stop()
        return step == 2 * n + 1

    fields = {**dict(cfg.lora_fields), "max_steps": 2 * n + 1}
    with tempfile.TemporaryDirectory() as folder:
        train_lora(lm, lines_corpus(manager, cfg), fields, cfg.seed, Path(folder), on_step)
    (t1, _), (t2, k2), (t3, k3) = (marks[s] for s in (1, n + 1, 2 * n + 1))
    return breakdown(profiler.key_averages(), n, (t2 - t1) / n, (t3 - t2) / n, (k3 - k2) // n)


def breakdown(events: Any, steps: int, step_seconds: float, profiled_step_seconds: float, tokens: int) -> list[Measure]:
    """Per step: its unprofiled seconds, the matmuls' own seconds and their FLOP/s, and (in the
    details) every category's seconds under the profiler, beside the profiled step's seconds."""
    seconds: dict[str, float] = dict.fromkeys([*CATEGORIES, OTHER], 0.0)
    matmul_flops = 0.0
    for event in events:  # totals over the profiled steps
        kind = category(event.key)
        seconds[kind] += event.self_cpu_time_total / 1e6 / steps
        if kind == "matmul":
            matmul_flops += float(event.flops or 0) / steps
    seconds[OUTSIDE] = max(0.0, profiled_step_seconds - sum(seconds.values()))
    details = {
        "profiled_steps": steps,
        "tokens_per_step": tokens,
        "profiled_step_seconds": profiled_step_seconds,
        "profiled_seconds_by_category": seconds,
    }
    speed = matmul_flops / seconds["matmul"] / 1e9 if seconds["matmul"] else None
    return [
        Measure("lora_step", "LoRA step on lines, as it runs", step_seconds, "s/step", details),
        Measure("lora_step_matmul", "LoRA step on lines: its matmuls' own time", seconds["matmul"], "s/step", details),
        Measure("lora_step_matmul_speed", "LoRA step on lines: its matmuls' own speed", speed, "GFLOP/s",
                {**details, "matmul_gflop_per_step": matmul_flops / 1e9}),
    ]  # fmt: skip
