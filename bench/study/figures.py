"""The study's figure types, redrawn from whatever records exist: `kmbench figures`.

Each figure is drawn only when its runs exist (a capacity curve needs LoRA at two sizes, a
budget curve ICL or RAG at two budgets), as PNG and PDF; the tables as Markdown and LaTeX.
Error bars are 95% bootstrap intervals over questions (pooled over seeds); tables add the
spread across seeds. A figure singles out a configuration only by how it was chosen, never by
the score it draws: the context-budget figure's flat lines are memories at their defaults.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bench.core.metrics import arrow
from bench.report.directions import directions_for
from bench.report.tables import load_table
from bench.run.record import train_log_path, turn_mark
from bench.study.capacity import (
    ANCHOR_BITS_PER_PARAM,
    aggregate,
    capacity,
    capacity_families,
    capacity_series,
    context_series,
    family,
)

log = logging.getLogger(__name__)


def save(fig: plt.Figure, folder: Path, name: str) -> list[Path]:
    """PNG and PDF; the PDF without its creation date, so a figure redrawn from the same records is
    the same file and a commit of redrawn figures shows only the ones that changed."""
    fig.tight_layout()
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    for path in paths:
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
        fig.savefig(path, dpi=130, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
    return paths


def error_bars(rows: pd.DataFrame) -> np.ndarray:
    """Distances from each mean to its interval's ends, in % (zero where no interval)."""
    low = (rows["score"] - rows["ci_low"]).clip(lower=0).fillna(0)
    high = (rows["ci_high"] - rows["score"]).clip(lower=0).fillna(0)
    return 100 * np.vstack([low.to_numpy(), high.to_numpy()])


def panels(n: int, width: float = 5.2, height: float = 4.0):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, list(axes[0])


def capacity_figure(agg: pd.DataFrame) -> plt.Figure | None:
    """Score against knowledge size, one line per LoRA rank, and ICL and RAG (dashed) at their
    widest context on the same sizes (the study's capacity figure, Figure 2); None without LoRA
    at two sizes."""
    lora, reading, families = capacity_series(agg), context_series(agg), capacity_families()
    shown = sorted(lora["panel"].unique())
    if not shown:
        return None
    fig, axes = panels(len(shown))
    for ax, where in zip(axes, shown, strict=True):
        mine = lora[lora["panel"] == where]
        fam = mine["family"].iloc[0]
        ticks = sorted(mine["corpus_tokens"].unique())
        for label, rows in mine.groupby("memory"):
            rows = rows.sort_values("corpus_tokens")
            ax.errorbar(
                rows["corpus_tokens"], 100 * rows["score"], yerr=error_bars(rows), marker="o", capsize=3,
                label=short(str(label)),
            )  # fmt: skip
        context = reading[(reading["family"] == fam) & reading["corpus_tokens"].isin(ticks)]
        for label, rows in context.groupby("memory"):
            rows = rows.sort_values("corpus_tokens")
            ax.errorbar(
                rows["corpus_tokens"], 100 * rows["score"], yerr=error_bars(rows), marker="s", capsize=3,
                linestyle="--", color=rows["memory_color"].iloc[0], label=f"{short(str(label))} (widest context)",
            )  # fmt: skip
        for tau in families[fam].taus:
            ax.axhline(100 * tau, color="grey", linestyle=":", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [f"{int(t):,}" for t in ticks], fontsize=8)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set(xlabel="knowledge size (corpus tokens, log2)", ylabel="score (%)", ylim=(-5, 105))
        ax.set_title(f"{where}\nLoRA capacity, ICL and RAG dashed (dotted: tau)", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def capacity_curves(agg: pd.DataFrame, folder: Path) -> list[Path]:
    fig = capacity_figure(agg)
    return save(fig, folder, "capacity_curves") if fig is not None else []


def capacity_heatmap(agg: pd.DataFrame, folder: Path) -> list[Path]:
    lora = capacity_series(agg)
    shown = [p for p, g in lora.groupby("panel") if g["rank"].nunique() * g["corpus_tokens"].nunique() > 1]
    if not shown:
        return []
    fig, axes = panels(len(shown), width=4.8)
    for ax, where in zip(axes, shown, strict=True):
        grid = lora[lora["panel"] == where].pivot_table(index="rank", columns="corpus_tokens", values="score")
        image = ax.imshow(100 * grid.to_numpy(), vmin=0, vmax=100, cmap="viridis", origin="lower", aspect="auto")
        ax.set_xticks(range(len(grid.columns)), [f"{int(c):,}" for c in grid.columns], fontsize=8)
        ax.set_yticks(range(len(grid.index)), [str(int(r)) for r in grid.index])
        for (i, j), value in np.ndenumerate(100 * grid.to_numpy()):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", color="white" if value < 60 else "black")
        ax.set(xlabel="knowledge size (corpus tokens)", ylabel="LoRA rank", title=f"{where}: score (%)")
        fig.colorbar(image, ax=ax, fraction=0.046)
    return save(fig, folder, "capacity_heatmap")


def per_rank(
    cap: pd.DataFrame, folder: Path, name: str, columns: Callable[[str], list[str]], ylabel: str
) -> list[Path]:
    """One panel per family (and answer turn) that has the columns at two ranks, a line per column
    against LoRA rank."""
    shown = [
        (p, g["family"].iloc[0])
        for p, g in cap.groupby("panel")
        if len(g) > 1 and g[columns(g["family"].iloc[0])].notna().any(axis=None)
    ]
    if not shown:
        return []
    fig, axes = panels(len(shown))
    for ax, (where, fam) in zip(axes, shown, strict=True):
        rows = cap[cap["panel"] == where].sort_values("rank")
        # a log axis has no zero: values of 0 are left out, and with none above 0 the axis stays linear
        log_y = name == "bits_per_param_vs_rank" and bool((rows[columns(fam)] > 0).any(axis=None))
        for column in columns(fam):
            values = rows[column].where(rows[column] > 0) if log_y else rows[column]
            ax.plot(rows["rank"], values, marker="o", label=column)
        if name == "bits_per_param_vs_rank":
            ax.axhline(ANCHOR_BITS_PER_PARAM, color="black", linestyle="--", label="2 bits/param (Allen-Zhu & Li)")
        if log_y:
            ax.set_yscale("log")  # what a small run recalls sits orders of magnitude below the anchor
        ax.set_xscale("log", base=2)
        ax.set(xlabel="LoRA rank (log2)", ylabel=ylabel, title=where)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return save(fig, folder, name)


def score_label(rows: pd.DataFrame) -> str:
    """An axis label: the metric, in %, with the arrow of its direction."""
    return f"{rows['metric'].iloc[0]} (%) {arrow(bool(rows['higher_is_better'].iloc[0]))}"


def by_score(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows by score, the best last (the highest, or the lowest where the task's metric says so):
    an order for display only; no figure marks a row by the score it shows."""
    return rows.sort_values("score", ascending=bool(rows["higher_is_better"].iloc[0]))


def at_defaults(rows: pd.DataFrame) -> pd.Series:
    """Whether each row's config is its memory's defaults: its label shows no field, only the name
    or `name@profile`. Defaults are chosen on held-out data (`kmbench select`) or fixed by a named
    protocol, never on the scores a figure draws, so these are the rows a figure may single out."""
    marked = [
        label == name or (label.startswith(f"{name}@") and "(" not in label)
        for label, name in zip(rows["memory"].astype(str), rows["memory_name"].astype(str), strict=True)
    ]
    return pd.Series(marked, index=rows.index, dtype=bool)


DEFAULTS_NOTE = "dashed, 0 context: memories at their defaults (held-out choice or named profile), not the best here"


def context_budget_figure(agg: pd.DataFrame) -> plt.Figure | None:
    """Context memories (ICL, RAG) against the context budget; the parametric memory (LoRA) and
    the closed book at their defaults as flat lines at zero context. The flat line is never the
    best-scoring configuration: choosing it by the score drawn would flatter it."""
    reading = agg[agg["memory_family"] == "context"]
    tasks = [t for t, g in reading.groupby("task") if g["context_budget"].nunique() > 1]
    if not tasks:
        return None
    fig, axes = panels(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        rows = agg[agg["task"] == task]
        for label, mine in rows[rows["memory_family"] == "context"].groupby("memory"):
            if mine["context_budget"].nunique() > 1:
                mine = mine.sort_values("context_budget")
                ax.errorbar(
                    mine["context_budget"], 100 * mine["score"], yerr=error_bars(mine), marker="o", capsize=3,
                    color=mine["memory_color"].iloc[0], label=label,
                )  # fmt: skip
        flat = rows[rows["memory_family"].isin(["parametric", "closed_book"])]
        flat = flat[at_defaults(flat)].sort_values("context_budget").drop_duplicates("memory", keep="last")
        for _, row in flat.sort_values(["memory_order", "memory"]).iterrows():
            ax.axhline(
                100 * row["score"], color=row["memory_color"], linestyle="--",
                label=f"{short(row['memory'])}: defaults, 0 context",
            )  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set(xlabel="context budget (tokens, log2)", ylabel=score_label(rows), ylim=(-5, 105))
        ax.set_title(f"{task}: accuracy vs context budget", fontsize=10)
        ax.legend(  # below: labels can be long
            fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.15), title=DEFAULTS_NOTE, title_fontsize=7
        )
        ax.grid(alpha=0.3)
    return fig


def context_budget_curves(agg: pd.DataFrame, folder: Path) -> list[Path]:
    fig = context_budget_figure(agg)
    return save(fig, folder, "context_budget") if fig is not None else []


def memory_bars(agg: pd.DataFrame, folder: Path) -> list[Path]:
    """Modular memories (multi-LoRA routers and merges), hybrids and their single-memory references, as bars."""
    tasks = [t for t, g in agg.groupby("task") if g["memory_family"].isin(["modular", "hybrid"]).any()]
    if not tasks:
        return []
    fig, axes = plt.subplots(len(tasks), 1, figsize=(9, 0.38 * agg["memory"].nunique() + 1.5), squeeze=False)
    for ax, task in zip(axes[:, 0], tasks, strict=True):
        rows = agg[agg["task"] == task]
        rows = by_score(rows[rows["context_budget"] == rows["context_budget"].max()])  # the full window, best on top
        ax.barh(
            range(len(rows)), 100 * rows["score"], xerr=error_bars(rows), color=list(rows["memory_color"]), capsize=3
        )
        ax.set_yticks(range(len(rows)), [short(m) for m in rows["memory"]], fontsize=8)
        ax.set(xlabel=score_label(rows), xlim=(0, 105), title=f"{task}: multi-LoRA, merges, hybrids")
        ax.grid(alpha=0.3, axis="x")
    return save(fig, folder, "multilora_bars")


def format_bars(agg: pd.DataFrame, folder: Path) -> list[Path]:
    """A parametric memory (LoRA) trained on each internalization format, other settings equal
    (one panel per such set)."""
    lora = agg[(agg["memory_family"] == "parametric") & agg["format"].notna()]
    lora = lora.assign(base=lora["memory"].str.replace(r"format=[^,)]*,?", "", regex=True))
    sets = [(key, g) for key, g in lora.groupby(["task", "base"]) if g["format"].nunique() > 1]
    if not sets:
        return []
    fig, axes = panels(len(sets), width=max(5.0, 0.9 * lora["format"].nunique() + 2))
    for ax, ((task, base), rows) in zip(axes, sets, strict=True):
        rows = by_score(rows)
        ax.bar(
            range(len(rows)), 100 * rows["score"], yerr=error_bars(rows), color=list(rows["memory_color"]), capsize=3
        )
        ax.set_xticks(range(len(rows)), rows["format"], rotation=20, fontsize=8)
        ax.set(ylabel=score_label(rows), ylim=(0, 105))
        ax.set_title(f"{task}: training format\n{short(base)}", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    return save(fig, folder, "format_bars")


def read_train_log(path: Path) -> tuple[list[float], int] | None:
    """(mean loss per epoch, optimizer steps) from a train log, or None (with a warning) when the
    file is not one: a figure is never lost to one bad file."""
    try:
        data = json.loads(path.read_text())
        losses, steps = data["losses"], data["steps"]
        if not (isinstance(steps, int) and steps > 0 and isinstance(losses, list) and 0 < len(losses) <= steps):
            raise ValueError("losses is a list of at most `steps` epochs, steps a positive integer")
        values = [float(v) for v in losses]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("a loss is not a finite number")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        log.warning("%s: not a train log (%s); left out of the loss curves", path, err)
        return None
    return values, steps


def loss_lines(frame: pd.DataFrame, records_root: Path) -> dict[str, list[tuple[str, list[float], int]]]:
    """The loss curves' lines by task family: (label, mean loss per epoch, optimizer steps) for each
    trained memory whose run wrote a train log. An adapter read twice (both answer turns) is one
    line, labelled as the assistant-turn read."""
    curves: dict[str, list[tuple[str, list[float], int]]] = {}
    drawn: set[tuple[str, str, str]] = set()
    many_models = frame["model"].nunique() > 1
    for row in frame.sort_values(["task", "memory", "run_id"]).itertuples():
        adapter = str(row.memory).removesuffix(turn_mark(str(row.answer_turn)))
        key = (str(row.task), str(row.model), adapter)
        path = train_log_path(records_root, str(row.task), str(row.run_id))
        if key in drawn or not path.is_file() or (read := read_train_log(path)) is None:
            continue
        drawn.add(key)
        model = f" ({row.model})" if many_models else ""
        curves.setdefault(family(key[0]), []).append((f"{key[0]} {short(adapter)}{model}", *read))
    return curves


def loss_curves(frame: pd.DataFrame, records_root: Path, folder: Path) -> list[Path]:
    """Each trained memory's mean loss per epoch against its optimizer steps, one panel per task
    family. A score of 0 alone cannot tell a write that did not converge from knowledge stored
    but not said; the curves can."""
    curves = loss_lines(frame, records_root)
    if not curves:
        return []
    fig, axes = panels(len(curves), width=6.0)
    for ax, (fam, lines) in zip(axes, sorted(curves.items()), strict=True):
        for label, losses, steps in lines:
            per_epoch = math.ceil(steps / len(losses))
            ends = [min((i + 1) * per_epoch, steps) for i in range(len(losses))]
            ax.plot(ends, losses, marker=".", markersize=3, label=label)
        ax.set_yscale("log")
        ax.set(xlabel="optimizer step (each point: an epoch's mean)", ylabel="training loss (log)", title=fam)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return save(fig, folder, "loss_curves")


def short(label: str) -> str:
    """Memory labels without the training fields every row shares."""
    for noise in ("batch_size=4,", "epochs=1,", "epochs=10,", "total_rank=32,", ",total_rank=32"):
        label = label.replace(noise, "")
    return label


def latex(frame: pd.DataFrame) -> str:
    escape = str.maketrans({"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#"})
    lines = [r"\begin{tabular}{" + "l" * len(frame.columns) + "}", r"\hline"]
    lines.append(" & ".join(str(c).translate(escape) for c in frame.columns) + r" \\ \hline")
    lines += [" & ".join(str(v).translate(escape) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    return "\n".join([*lines, r"\hline", r"\end{tabular}"]) + "\n"


def summary_table(agg: pd.DataFrame) -> pd.DataFrame:
    table = agg.sort_values(["task", "memory", "context_budget"])
    return pd.DataFrame(
        {
            "task": table["task"],
            "memory": table["memory"],
            "budget": table["context_budget"].map(lambda b: "window" if pd.isna(b) else f"{int(b)}"),
            "seeds": table["n_seeds"],
            "score %": (100 * table["score"]).map("{:.1f}".format),
            "seed sd": (100 * table["seed_sd"]).map("{:.1f}".format),
            "95% CI": [f"[{100 * a:.1f}, {100 * b:.1f}]" for a, b in table[["ci_low", "ci_high"]].to_numpy()],
        }
    )


def write_figures(records_root: Path, folder: Path) -> list[Path]:
    """Every figure and table the records allow; returns what was written."""
    frame = load_table(records_root)
    agg = aggregate(frame, directions_for(frame["task"].unique()))
    cap, families = capacity(agg), capacity_families()
    folder.mkdir(parents=True, exist_ok=True)
    written = capacity_curves(agg, folder) + capacity_heatmap(agg, folder) + context_budget_curves(agg, folder)
    written += memory_bars(agg, folder) + format_bars(agg, folder) + loss_curves(frame, records_root, folder)
    if len(cap):

        def at_each_tau(column: str) -> Callable[[str], list[str]]:
            return lambda fam: [f"{column}@{t:g}" for t in families[fam].taus]

        written += per_rank(cap, folder, "t_max_vs_rank", at_each_tau("T_max"), "T_max (corpus tokens)")
        written += per_rank(cap, folder, "efficiency_vs_rank", at_each_tau("efficiency"), "T_max / trainable params")
        if cap["bits_per_param"].notna().any():
            written += per_rank(cap, folder, "bits_per_param_vs_rank", lambda f: ["bits_per_param"], "bits / param")
    tables = {"scores": summary_table(agg)} | ({"capacity": cap.round(6)} if len(cap) else {})
    markdown = "\n\n".join(f"## {name}\n\n{table.to_markdown(index=False)}" for name, table in tables.items())
    (folder / "tables.md").write_text(markdown + "\n")
    (folder / "tables.tex").write_text("\n".join(latex(t) for t in tables.values()))
    return [*written, folder / "tables.md", folder / "tables.tex"]
