"""Costs checked against what the record itself implies.

What can be checked: FLOPs follow from tokens and parameters by the formulas the runner uses
(training 4·N·tokens, reading at least 2·N·prompt tokens), the per-question seconds add up to
the stated totals, and no phase runs faster than the fastest device of its kind could (the
FLOPs it implies over its seconds, against a generous peak per device type).

What cannot be checked: seconds inflated, or deflated while staying under that peak; the
hardware line of `submission.yaml` is free text, so a submission's speed is shown, never
verified. Reproduction (`kmbench validate --reproduce`) checks answers, not seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.core.memory import Traits
from bench.run.record import RunRecord

MAX_SECONDS = 30 * 24 * 3600.0
RELATIVE = 1e-6
# FLOP/s no single device of the kind reaches (about 4x the fastest one known in 2026): a
# 2-socket CPU server in fp32 makes a few TFLOP/s, a B200-class GPU about 2.3 PFLOP/s in bf16.
PLAUSIBLE_PEAK = {"cpu": 2e13, "cuda": 1e16, "mps": 2e14, "xpu": 1e16}


def plausible_peak(device: str) -> float | None:
    """The peak for a record's device (`cpu`, `cuda:0`, ...), None for a kind not listed."""
    return PLAUSIBLE_PEAK.get(device.split(":")[0].lower())


def cost_problems(r: RunRecord, traits: Traits, samples: Sequence[dict[str, Any]] | None) -> list[str]:
    """One line per implausible cost or score; `samples` adds the checks that need them."""
    c, n_params = r.cost, r.model.n_params
    numbers = {k: x for k, x in vars(c).items() if isinstance(x, (int, float)) and not isinstance(x, bool)}
    problems = [f"cost.{k} = {x} is not a finite, non-negative number" for k, x in numbers.items() if not ok(x)]
    if problems:
        return problems
    rules: list[tuple[bool, str]] = [
        (c.write_seconds <= MAX_SECONDS and c.read_seconds <= MAX_SECONDS, "seconds beyond 30 days"),
        (c.seconds_per_query > 0, "seconds_per_query must be positive"),
        (c.truncated_fraction <= 1, "truncated_fraction above 1"),
        (c.context_budget == 0 or c.context_tokens_per_query <= c.context_budget, "context beyond the budget"),
        (c.prompt_tokens_per_query >= c.context_tokens_per_query, "fewer prompt tokens than context tokens"),
        (c.trainable_params <= n_params, "more trainable parameters than the model has"),
        (traits.trains_parameters == (c.trainable_params > 0), "trainable_params > 0 exactly where training happens"),
        (all(0 <= m.value <= 1 for m in r.metrics.values()), "metric values outside [0, 1]"),
    ]
    if traits.trains_parameters and traits.family != "hybrid":  # a hybrid adds its other parts' FLOPs
        training = 4.0 * n_params * c.write_tokens
        if r.memory.config.get("objective") == "dcd":  # distillation adds its teacher's forward passes
            rules.append((c.write_flops >= training * (1 - RELATIVE), "write_flops below 4 x params x tokens"))
        else:
            rules.append((close(c.write_flops, training), "write_flops is not 4 x params x tokens"))
    peak = plausible_peak(r.model.device)
    if peak is not None:
        # a question's own tokens are computed for it; a context shared by every question (ICL's
        # prefix) may be computed once for all of them, but at least once
        own = 2.0 * n_params * (c.prompt_tokens_per_query - c.context_tokens_per_query)
        shared_once = 2.0 * n_params * c.context_tokens_per_query
        speeds = [
            ("writing", c.write_flops, c.write_seconds),
            ("reading", own * r.task.n_queries + shared_once, c.read_seconds),
            ("a question", own, c.seconds_per_query),
        ]
        rules += [(within_peak(f, s, peak), f"{what} faster than {peak:.0e} FLOP/s") for what, f, s in speeds]
    if samples:
        rules += sample_rules(r, samples)
    return [f"implausible cost or score: {what}" for holds, what in rules if not holds]


def sample_rules(r: RunRecord, samples: Sequence[dict[str, Any]]) -> list[tuple[bool, str]]:
    """Totals against the per-question rows they were summed from."""
    c, n = r.cost, len(samples)
    seconds = [float(s.get("seconds") or 0.0) for s in samples]
    prompt_total = sum(float(s.get("prompt_tokens") or 0) for s in samples)
    answer_chars = sum(len(s["response"]) for s in samples if isinstance(s.get("response"), str))
    floor, ceiling = 2.0 * r.model.n_params * prompt_total, 2.0 * r.model.n_params * (prompt_total + answer_chars + n)
    context_total = sum(float(s.get("context_tokens") or 0) for s in samples)
    return [
        (close(c.prompt_tokens_per_query, prompt_total / n), "prompt_tokens_per_query is not the questions' mean"),
        (close(c.context_tokens_per_query, context_total / n), "context_tokens_per_query is not the questions' mean"),
        (all(ok(s) and s > 0 for s in seconds), "a question with no positive seconds"),
        (sum(seconds) <= c.read_seconds * (1 + RELATIVE) + 1e-3, "the questions' seconds add up past read_seconds"),
        (sum(seconds) / n <= c.seconds_per_query * (1 + RELATIVE) + 1e-9, "seconds_per_query below the questions'"),
        (floor * (1 - RELATIVE) <= c.read_flops <= ceiling * (1 + RELATIVE), "read_flops not 2 x params x tokens"),
    ]


def ok(x: float) -> bool:
    return math.isfinite(x) and x >= 0


def close(a: float, b: float) -> bool:
    return abs(a - b) <= RELATIVE * max(abs(a), abs(b), 1.0)


def within_peak(flops: float, seconds: float, peak: float) -> bool:
    """Whether `flops` in `seconds` needs at most `peak` FLOP/s (nothing done is always within)."""
    return flops <= 0 or seconds * peak >= flops
