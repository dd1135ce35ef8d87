"""Where a LoRA training step's time goes: what limits MFU, measured rather than guessed.

A few optimizer steps on the lines task run under torch's profiler (the first step, a warm-up,
left out). Each operator's own time goes to one category; what no operator accounts for is the
Python and framework time between them. The matmuls' own FLOP/s against the peak says how fast
the kernels run on these shapes; their share of the step says how much of the step they are.
MFU is roughly the product of the two.
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
    """Profile `cfg.profile_steps` LoRA steps on the lines task (after one unprofiled warm-up step)."""
    from torch.profiler import ProfilerActivity, profile

    profiler = profile(activities=[ProfilerActivity.CPU], with_flops=True)
    window: dict[str, float] = {}

    def on_step(step: int, tokens: int, net: Any) -> bool:
        if step == 1:
            window["tokens"], window["started"] = tokens, time.perf_counter()
            profiler.start()
            return False
        if step == cfg.profile_steps + 1:
            profiler.stop()
            window["seconds"] = time.perf_counter() - window["started"]
            window["tokens"] = tokens - window["tokens"]
            return True
        return False

    fields = {**dict(cfg.lora_fields), "max_steps": cfg.profile_steps + 1}
    with tempfile.TemporaryDirectory() as folder:
        train_lora(lm, lines_corpus(manager, cfg), fields, cfg.seed, Path(folder), on_step)
    return breakdown(profiler.key_averages(), window["seconds"], window["tokens"], cfg.profile_steps)


def breakdown(events: Any, wall: float, tokens: int, steps: int) -> list[Measure]:
    """Shares of the wall time by category, and the matmuls' own FLOP/s, from the profiler's averages."""
    seconds: dict[str, float] = dict.fromkeys([*CATEGORIES, OTHER], 0.0)
    matmul_flops = 0.0
    for event in events:
        kind = category(event.key)
        seconds[kind] += event.self_cpu_time_total / 1e6
        if kind == "matmul":
            matmul_flops += float(event.flops or 0)
    seconds[OUTSIDE] = max(0.0, wall - sum(seconds.values()))
    details = {"profiled_steps": steps, "profiled_tokens": tokens, "wall_seconds": wall, "seconds_by_category": seconds}
    shares = [
        Measure(f"lora_step_{name.replace(' ', '_')}", f"LoRA step on lines, share in {name}",
                100.0 * s / wall, "% of the step", details)
        for name, s in seconds.items()
    ]  # fmt: skip
    speed = matmul_flops / seconds["matmul"] / 1e9 if seconds["matmul"] else None
    matmuls = Measure(
        "lora_step_matmul_speed",
        "LoRA step on lines, the matmuls' own speed",
        speed,
        "GFLOP/s",
        {**details, "matmul_gflop": matmul_flops / 1e9},
    )
    return [*shares, matmuls]
