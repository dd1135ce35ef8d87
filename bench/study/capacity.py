"""The study's quantities from run records: seeds aggregated with intervals, capacity (T_max,
Efficiency = T_max / N_params) and bits recalled per trainable parameter.

Figures and tables (`bench.study.figures`) only draw what this module computes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.config import check, parse_config
from bench.core.errors import UserError
from bench.core.paths import TASKS_DIR
from bench.report.directions import Directions, directions_for
from bench.report.traits import TRAIT_COLUMNS, with_traits
from bench.run.record import read_samples, samples_path_for

CAPACITY_FILE = "capacity.yaml"  # in a task folder: its capacity families, their thresholds and fact bits


@dataclass(frozen=True)
class Family:
    """A task family whose capacity (T_max) is measured: the thresholds tau on its primary score, as
    the study sets them for it, and a fact's information in bits where it is fixed (None: unknown)."""

    taus: tuple[float, ...]
    fact_bits: float | None = None

    def __post_init__(self) -> None:
        check(bool(self.taus) and all(0 < t <= 1 for t in self.taus), "taus are thresholds in (0, 1]")
        check(self.fact_bits is None or self.fact_bits > 0, "fact_bits must be positive")


def capacity_families(tasks_dir: Path = TASKS_DIR) -> dict[str, Family]:
    """Every task folder's `capacity.yaml` (family name -> its thresholds and fact bits): the task
    folders own this knowledge, so adding a family touches no code."""
    import yaml

    families: dict[str, Family] = {}
    for path in sorted(tasks_dir.glob(f"*/{CAPACITY_FILE}")):
        for name, values in (yaml.safe_load(path.read_text()) or {}).items():
            if name in families:
                raise UserError(f"{path}: family {name} is declared twice")
            families[name] = parse_config(Family, values, where=f"{path}: {name}")
    return families


ANCHOR_BITS_PER_PARAM = 2.0  # Allen-Zhu & Li, Physics of Language Models 3.3
BOOTSTRAP = 1000


def family(task: str) -> str:
    """`kmb_phonebook_16k` -> `kmb_phonebook`; `kmb_counterfact_1k_efficacy` -> `kmb_counterfact_efficacy`."""
    return re.sub(r"_\d+k(?=_|$)", "", task)


def question_scores(path: Path, metric: str) -> np.ndarray | None:
    """Each question's score from a record's samples, in question order (None without samples)."""
    samples_path = samples_path_for(path)
    if samples_path is None:
        return None
    rows = sorted(read_samples(samples_path), key=lambda s: s["doc_id"])
    return np.array([float(r["metrics"].get(metric, np.nan)) for r in rows])


def bootstrap_interval(per_seed: list[np.ndarray], seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean, resampling questions (the same ones across seeds)."""
    usable = [s for s in per_seed if s is not None]
    if not usable or len({len(s) for s in usable}) != 1:
        return (math.nan, math.nan)
    per_question = np.nanmean(np.stack(usable), axis=0)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(per_question), size=(BOOTSTRAP, len(per_question)))
    means = np.nanmean(per_question[picks], axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def aggregate(frame: pd.DataFrame, directions: Directions | None = None) -> pd.DataFrame:
    """One row per (task, model, memory, context budget) over its seeds: mean score, seed spread
    (standard deviation across seeds) and a bootstrap interval over questions, with the memory's
    traits and whether a higher score is better (the task's primary metric's direction)."""
    frame = with_traits(frame)
    directions = directions or directions_for(frame["task"].unique())
    frame = frame.assign(
        score=[row[row["primary_metric"]] for _, row in frame.iterrows()],
        family=frame["task"].map(family),
        answer_turn=frame.get("answer_turn", "assistant"),
    )
    keys = ["task", "family", "model", "memory", "memory_name", "answer_turn", "context_budget"]
    rows = []
    for key, group in frame.groupby(keys, dropna=False, sort=False):
        metric = group["primary_metric"].iloc[0]
        low, high = bootstrap_interval([question_scores(Path(p), metric) for p in group["path"]])
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "metric": metric,
                "higher_is_better": directions.higher_is_better(str(key[0]), metric),
                "score": group["score"].mean(),
                "seed_sd": group["score"].std(ddof=1) if len(group) > 1 else 0.0,
                "n_seeds": len(group),
                "ci_low": low,
                "ci_high": high,
                "rank": group["rank"].iloc[0],
                "format": group["format"].iloc[0],
                "trainable_params": group["trainable_params"].iloc[0],
                "corpus_tokens": group["corpus_tokens"].iloc[0],
                "n_queries": group["n_queries"].iloc[0],
                "context_tokens_per_query": group["context_tokens_per_query"].mean(),
                "write_seconds": group["write_seconds"].mean(),
                **{column: group[column].iloc[0] for column in TRAIT_COLUMNS},
            }
        )
    return pd.DataFrame(rows)


def t_max(sizes: list[float], scores: list[float], tau: float) -> float:
    """The largest knowledge size (tokens) up to which every size scores >= tau; 0 if none does."""
    best = 0.0
    for size, score in sorted(zip(sizes, scores, strict=True)):
        if score < tau - 1e-9:
            break
        best = size
    return best


def panel(fam: str, answer_turn: str) -> str:
    """What a capacity panel shows: a family as the study asks it, or answered in the user turn
    (the facts a LoRA stored, whether or not its reply can say them) on a panel of its own."""
    return fam if answer_turn == "assistant" else f"{fam}, answered in the {answer_turn} turn"


def capacity_series(agg: pd.DataFrame) -> pd.DataFrame:
    """Single-adapter rows (the parametric memories) of one configuration measured at two or more
    knowledge sizes, each with the panel it is drawn in."""
    lora = agg[(agg["memory_family"] == "parametric") & agg["family"].isin(list(capacity_families()))]
    sizes = lora.groupby(["model", "family", "memory"])["corpus_tokens"].transform("nunique")
    lora = lora[sizes > 1]
    return lora.assign(panel=[panel(f, t) for f, t in zip(lora["family"], lora["answer_turn"], strict=True)])


def context_series(agg: pd.DataFrame) -> pd.DataFrame:
    """Context memories (ICL, RAG) in the capacity families, each at its widest context budget on
    each task (the whole window where it ran with budget null, the study's setting): the capacity
    figure draws them beside the LoRA ranks, as the study's Figure 2 does."""
    rows = agg[(agg["memory_family"] == "context") & agg["family"].isin(list(capacity_families()))]
    widest = rows.groupby(["model", "task", "memory"])["context_budget"].transform("max")
    return rows[rows["context_budget"] == widest]


def capacity(agg: pd.DataFrame) -> pd.DataFrame:
    """Per (model, family, rank) of single-adapter LoRA runs: T_max and Efficiency per tau, and
    the most bits per trainable parameter recalled at any size (where a fact's bits are known)."""
    rows, families = [], capacity_families()
    keys = ["model", "family", "answer_turn", "panel", "rank", "memory"]
    for (model, fam, turn, where, rank, _), group in capacity_series(agg).groupby(keys):
        params = float(group["trainable_params"].iloc[0])
        row = {"model": model, "family": fam, "answer_turn": turn, "panel": where, "rank": int(rank)}
        row["trainable_params"] = int(params)
        for tau in families[fam].taus:
            best = t_max(list(group["corpus_tokens"]), list(group["score"]), tau)
            row[f"T_max@{tau:g}"] = best
            row[f"efficiency@{tau:g}"] = best / params if params else math.nan
        bits = families[fam].fact_bits
        recalled = group["score"] * group["n_queries"] * (bits or math.nan)
        row["bits_per_param"] = float(recalled.max()) / params if params and bits else math.nan
        rows.append(row)
    return pd.DataFrame(rows)
