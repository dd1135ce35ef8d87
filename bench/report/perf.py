"""The `make perf` table: measures, ratios and targets from a perf JSON, as Markdown.

Only reads the document (`bench.study.perf.suite` writes it), so the README can show a
committed reference file the same way the command prints a fresh one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def rate(gflops: float) -> str:
    """GFLOP/s to a readable precision, from a tiny test model's to a GPU's."""
    if gflops >= 100:
        return f"{gflops:,.0f}"
    return f"{gflops:.1f}" if gflops >= 1 else f"{gflops:.3g}"


def value_cell(value: float | None, unit: str) -> str:
    """A number in its unit's usual form; "–" for one not reached."""
    if value is None:
        return "–"
    if unit in ("of peak", "of the step"):
        return f"{100 * value:.1f}% {unit}"
    if unit == "tokens":
        return f"{value:,.0f} tokens"
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "GFLOP/s":
        return f"{rate(value)} GFLOP/s"
    return f"{value:.3f} {unit}"


def note(measure: Mapping[str, Any]) -> str:
    """What a measure was taken on, from its details."""
    d = measure.get("details") or {}
    if "tokens" in d and "steps" in d:  # a training run
        taught = (
            f"; teacher once for {d['teacher_cached']} lines: {d['teacher_seconds']:.1f} s"
            if d.get("teacher_cached")
            else ""
        )
        return f"{d['tokens']:,} tokens in {d['seconds']:.1f} s ({d['dtype']}){taught}"
    if "profiled_seconds_by_category" in d:  # the timed, then profiled, LoRA steps
        done = f"{d['tokens_per_step']:,} tokens a step; {d['profiled_steps']} steps timed, then as many profiled"
        return done + (
            f"; {d['matmul_gflop_per_step']:,.0f} GFLOP a step in matmuls" if "matmul_gflop_per_step" in d else ""
        )
    if measure["unit"] == "tokens":
        took = "" if d.get("seconds") is None else f"{d['seconds']:.1f} s of training; "
        every = f"every {d['every_steps']} steps" if d.get("checked_during_training") else "at the end only"
        return f"{took}score checked {every}; last score {100 * d['last_score']:.1f}%"
    if "context_tokens" in d:
        on = f" of {d['task']}" if "task" in d else ""
        read = f"{d['questions']} questions{on}, batch {d['batch_size']}, {d['context_tokens']:,.0f} context tokens"
        if "truncated_share" in d:
            cut = f"{d['sections_dropped']} of {d['sections']} sections"
            read += f"; {100 * d['truncated_share']:.0f}% of the {d['document_tokens']:,}-token document cut ({cut})"
        return read + answer_length(d)
    if "modules" in d:
        how = f" ({d['memory']})" if "memory" in d else ""
        steps = f"; modules trained {d['module_steps']} step(s) each" if d.get("module_steps") else ""  # 0: by epochs
        return (
            f"{d['questions']} questions of {d['task']}{how}{steps}; "
            f"{d['identical_answers']} identical answers across the three"
        ) + answer_length(d)
    return ""


def answer_length(details: Mapping[str, Any]) -> str:
    """Answers' mean length, beside their seconds: a memory that answers at length reads slower.
    Files written before it was measured have none to show."""
    return f"; {details['answer_tokens']:.0f} answer tokens" if "answer_tokens" in details else ""


def peak_line(peak: Mapping[str, Any]) -> str:
    """The machine's peak as cold-run times quote it: "matmul peak fp32 X (bf16 Y) GFLOP/s on ..."."""
    bf16 = f", bf16 {rate(peak['bf16_gflops'])}" if peak.get("bf16_gflops") else ", bf16 not native"
    return (
        f"matmul peak fp32 {rate(peak['fp32_gflops'])}{bf16} GFLOP/s on {peak['device']}, {peak['threads']} threads "
        f"({peak['size']}x{peak['size']}, best of {peak['repeats']})"
    )


def attention(model: Mapping[str, Any]) -> str:
    """The attention implementation, with the SDPA kernels torch may pick where it recorded them (CUDA)."""
    kernels = model.get("attention_kernels")
    if not kernels:
        return f"attention {model['attention']}"
    allowed = [k.removeprefix("sdpa_") for k, on in kernels.items() if on and k.startswith("sdpa_")]
    package = "flash-attn installed" if kernels.get("flash_attn_package") else "no flash-attn package"
    return f"attention {model['attention']} (SDPA kernels: {', '.join(allowed) or 'none'}; {package})"


def header(doc: Mapping[str, Any]) -> str:
    """One line: model, device, the peak, commit and how long the whole run took."""
    m = doc["model"]
    commit = (doc.get("commit") or "no commit")[:10] + (" (dirty)" if doc.get("dirty") else "")
    return (
        f"{m['name']} ({m['dtype']}, {attention(m)}) on {m['device']} ({doc['env']['device']}); "
        f"{peak_line(doc['peak'])}; {doc['config']['preset']} settings, {doc['wall_seconds']:.0f} s in all; "
        f"commit {commit}"
    )


def perf_table(doc: Mapping[str, Any]) -> str:
    """The header line, a table of measures, and a table of ratios with their targets (if the preset has any)."""
    lines = [header(doc), "", "| measure | value | on |", "|---|---|---|"]
    lines += [f"| {m['label']} | {value_cell(m['value'], m['unit'])} | {note(m)} |" for m in doc["measures"]]
    if not doc["targets"]:  # a preset that checks no targets: its ratios alone
        lines += ["", "| ratio | measured |", "|---|---|"]
        lines += [f"| {r['label']} | {value_cell(r['value'], r['unit'])} |" for r in doc["ratios"]]
        return "\n".join(lines) + "\n"
    lines += ["", "| ratio or target | measured | target | met |", "|---|---|---|---|"]
    targeted = {t["quantity"] for t in doc["targets"]}
    units = {m["name"]: m["unit"] for m in doc["measures"]} | {r["name"]: r["unit"] for r in doc["ratios"]}
    for t in doc["targets"]:
        unit = units.get(t["quantity"], "×")
        measured, bound = value_cell(t["measured"], unit), value_cell(t["target"], unit)
        lines.append(f"| {t['label']} | {measured} | {t['op']} {bound} | {'met' if t['met'] else 'not met'} |")
    untargeted = [r for r in doc["ratios"] if r["name"] not in targeted]
    lines += [f"| {r['label']} | {value_cell(r['value'], r['unit'])} | – | – |" for r in untargeted]
    return "\n".join(lines) + "\n"
