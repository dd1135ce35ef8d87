"""RunRecord: the one JSON file a run leaves, and the only module that knows its shape.

Everything downstream (reporter, leaderboard) reads records through `load_record` and
`flatten`, so the schema can evolve here with a version number and nowhere else.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.core.config import profile_of
from bench.core.errors import UserError
from bench.core.metrics import stderr_column

SCHEMA_VERSION = 2
# Field metadata for a field added to a version after records of it were written: it has a
# default that reproduces the old behaviour, and the schema does not require it.
ADDED_IN_V2 = {"optional": True}


@dataclass(frozen=True)
class RunInfo:
    """Which invocation made the record, so a result can be traced to code, command and seed."""

    run_id: str
    created_at: str
    git_sha: str | None
    git_dirty: bool | None
    command: str
    seed: int
    kmbench_version: str
    # added after schema v2 (optional there): questions answered together; batches pad, and padding
    # can move a greedy answer's last bits, so a rerun uses the same. Records without it ran at 16,
    # the only batch size committed records were made at.
    batch_size: int = field(default=16, metadata={"optional": True})


@dataclass(frozen=True)
class ModelInfo:
    """The reader model, identified by its weights (`model_id`), so runs compare only like with like."""

    name: str
    model_id: str
    n_params: int
    dtype: str
    device: str
    chat_template: bool
    # added after schema v2 (optional there): records without it answered as the assistant
    answer_turn: str = field(default="assistant", metadata={"optional": True})


@dataclass(frozen=True)
class MemoryInfo:
    """The memory and its full config, so a row can be reproduced and labelled by what changed."""

    name: str
    label: str  # name plus the config fields that differ from the defaults
    config: dict[str, Any]


@dataclass(frozen=True)
class TaskInfo:
    """The task and the exact corpus it taught (by hash), so results on different data never mix."""

    name: str
    version: str
    corpus_sha256: str
    n_documents: int
    corpus_tokens: int
    n_queries: int
    primary_metric: str
    limit: int | None
    # added after schema v2 (optional there): an update task's book before the change, which the
    # memory wrote before taking `corpus_sha256` as an update; None for every other task
    previous_corpus_sha256: str | None = field(default=None, metadata={"optional": True})


@dataclass(frozen=True)
class Metric:
    """One score with lm-eval's stderr, so tables can show whether a difference is noise."""

    value: float
    stderr: float | None


@dataclass(frozen=True)
class Cost:
    """HELM-style: cost sits beside accuracy. Write = building the memory, read = answering."""

    write_seconds: float
    write_cached: bool
    write_tokens: int
    write_flops: float
    write_peak_mb: float | None
    trainable_params: int
    storage_bytes: int
    index_vectors: int
    read_seconds: float
    seconds_per_query: float
    prompt_tokens_per_query: float
    context_tokens_per_query: float
    context_budget: int
    truncated_fraction: float
    read_flops: float
    read_peak_mb: float | None
    # Added after schema v2 (optional there; records without them read as 0: their shared prefixes,
    # if any, were encoded inside the questions' seconds). A prefix every question shares (ICL's
    # corpus) is encoded once into a key/value cache, a write like RAG's index: its seconds, tokens
    # and cache bytes. With a reusable cache a question costs `seconds_per_query`; without one it
    # would pay `prefix_seconds` again on top.
    prefix_seconds: float = field(default=0.0, metadata={"optional": True})
    prefix_tokens: int = field(default=0, metadata={"optional": True})
    prefix_cache_bytes: int = field(default=0, metadata={"optional": True})
    # Added after schema v2 (optional there; 0 on every task but the update tasks): what taking the
    # book's new version cost after writing the old one. The write fields above are the old
    # version's, about what a full rebuild of the new one costs (the versions are the same size).
    update_seconds: float = field(default=0.0, metadata={"optional": True})
    update_tokens: int = field(default=0, metadata={"optional": True})
    update_flops: float = field(default=0.0, metadata={"optional": True})


@dataclass(frozen=True)
class Forgetting:
    """What an adapter run did to knowledge the base model had (the `kmb_forgetting` probe).

    The answers are kept so a reviewer can re-score both sides; `retention` is the share of the
    probe questions the base model answers right that the memory still answers right.
    """

    task: str
    version: str
    base_answers: list[str]
    memory_answers: list[str]
    base_correct: int
    retained: int
    retention: float | None  # None when the base model knows none of the probe questions


@dataclass(frozen=True)
class JudgeInfo:
    """Who graded the answers when the optional LLM judge was on (scores are in the samples)."""

    model: str
    model_id: str
    rubric_sha256: str  # which rubric (bench.harness.judging), and so how its outputs are read
    unparseable: int  # malformed outputs: scored 0 by the legacy rubric, left unscored by the JSON one
    # Added within v2, absent from older records (whose legacy rubric scored 0-10 on a local model):
    scale: int = field(default=10, metadata=ADDED_IN_V2)  # scores run 0..scale; `judge` is score / scale
    endpoint: str | None = field(default=None, metadata=ADDED_IN_V2)  # an OpenAI-compatible API's URL, if not local


# Cost columns, where smaller is better (tables, the board and plots read their arrows here; a
# metric's direction comes from its task's metric_list, see `bench.core.metrics`).
LOWER_IS_BETTER = frozenset({f.name for f in fields(Cost)} - {"write_cached"})


@dataclass(frozen=True)
class RunRecord:
    """Everything one (task, model, memory) run measured: the unit every report and submission reads."""

    run: RunInfo
    model: ModelInfo
    memory: MemoryInfo
    task: TaskInfo
    metrics: dict[str, Metric]
    cost: Cost
    env: dict[str, Any]
    forgetting: Forgetting | None = None  # adapter runs only (v2)
    judge: JudgeInfo | None = None  # runs with --judge on tasks that allow it (v2)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        """Stable (sorted, indented) JSON, so records diff cleanly and hash the same."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Rebuild a record from parsed JSON, migrating older schema versions first."""
        data = migrate(data)
        return cls(
            run=RunInfo(**data["run"]),
            model=ModelInfo(**data["model"]),
            memory=MemoryInfo(**data["memory"]),
            task=TaskInfo(**data["task"]),
            metrics={k: Metric(**v) for k, v in data["metrics"].items()},
            cost=Cost(**data["cost"]),
            env=data["env"],
            forgetting=Forgetting(**data["forgetting"]) if data["forgetting"] else None,
            judge=JudgeInfo(**data["judge"]) if data["judge"] else None,
        )

    @property
    def label(self) -> str:
        """The memory's label as tables show it: marked when answers were read in the user turn,
        which asks another question (can the model complete the line it was trained on)."""
        return self.memory.label + turn_mark(self.model.answer_turn)

    def flatten(self) -> dict[str, Any]:
        """One table row: identifying columns, each metric with its stderr, every cost field."""
        row: dict[str, Any] = {
            "task": self.task.name,
            "model": self.model.name,
            "memory": self.label,
            "memory_name": self.memory.name,
            "answer_turn": self.model.answer_turn,
            "profile": profile_of(self.memory.config),
            "rank": self.memory.config.get("rank"),
            "format": self.memory.config.get("format"),
            "seed": self.run.seed,
            "run_id": self.run.run_id,
            "created_at": self.run.created_at,
            "primary_metric": self.task.primary_metric,
            "n_queries": self.task.n_queries,
            "limit": self.task.limit,  # set: the run asked only the first `limit` questions (partial)
            "corpus_tokens": self.task.corpus_tokens,
            "update_task": self.task.previous_corpus_sha256 is not None,  # the memory wrote an old book, then updated
        }
        for name, metric in self.metrics.items():
            row[name] = metric.value
            row[stderr_column(name)] = metric.stderr
        row.update(asdict(self.cost))
        row["retention"] = self.forgetting.retention if self.forgetting else None
        row["probed"] = self.forgetting is not None  # carries the probe (its retention may still be None)
        row["oracle"] = reads_gold(self.memory.config)
        return row


def turn_mark(answer_turn: str) -> str:
    """What a memory's label gains when its answers were read in another turn than the assistant's."""
    return "" if answer_turn == "assistant" else f" [{answer_turn} turn]"


def reads_gold(config: Any) -> bool:
    """Whether a memory config (or any part of a hybrid's) routes by the oracle, which reads each
    question's gold document at answer time: an upper bound, not a memory one could deploy."""
    if isinstance(config, dict):
        return config.get("router") == "oracle" or any(reads_gold(v) for v in config.values())
    if isinstance(config, list):
        return any(reads_gold(v) for v in config)
    return False


def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 added the forgetting probe and the LLM judge; v1 runs had neither."""
    return {**data, "forgetting": None, "judge": None, "schema_version": 2}


# schema_version -> function lifting a record of that version one version up, so old records
# (and leaderboard submissions) keep loading.
MIGRATIONS: dict[int, Any] = {1: v1_to_v2}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a record dict to SCHEMA_VERSION, or refuse it with the reason."""
    version = data.get("schema_version")
    while isinstance(version, int) and version < SCHEMA_VERSION and version in MIGRATIONS:
        data = MIGRATIONS[version](data)
        version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UserError(
            f"record schema version {version} cannot be read by this kmbench (it reads v{SCHEMA_VERSION}"
            f"{' and migrates v' + ', v'.join(map(str, sorted(MIGRATIONS))) if MIGRATIONS else ''}); "
            "re-run with a matching kmbench"
        )
    return data


def write_atomic(path: Path, text: str) -> None:
    """Write beside the target and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def record_paths(out: Path, task: str, model_slug: str, run_id: str) -> tuple[Path, Path]:
    """`<out>/records/<task>/<model>/<run_id>.json` and its per-sample `.samples.jsonl`."""
    folder = out / "records" / task / model_slug
    return folder / f"{run_id}.json", folder / f"{run_id}.samples.jsonl"


def train_log_path(out: Path, task: str, run_id: str) -> Path:
    """`<out>/train_logs/<task>-<run_id>.json`: a trained memory's per-epoch losses, kept beside
    the records (not in them: a record's schema is the leaderboard's) for the loss-curve figure."""
    return out / "train_logs" / f"{task}-{run_id}.json"


def save_record(record: RunRecord, samples: list[dict[str, Any]], record_path: Path, samples_path: Path) -> None:
    """Samples first, record last: a record on disk always has its samples beside it."""
    write_atomic(samples_path, "".join(json.dumps(s, sort_keys=True, default=str) + "\n" for s in samples))
    write_atomic(record_path, record.to_json() + "\n")


def load_record(path: Path) -> RunRecord:
    """Read a record file; anything that is not a record becomes a `UserError` naming the file."""
    try:
        return RunRecord.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a KMBench run record ({exc})") from None


def find_records(root: Path) -> list[Path]:
    """Record files under `root`, recognized by the `records/<task>/<model>/` layout so other JSON is ignored."""
    return sorted(p for p in root.rglob("*.json") if p.parent.parent.parent.name == "records")


def samples_path_for(record_path: Path) -> Path | None:
    """The per-sample log beside a record: `.samples.jsonl`, or gzipped for large ones."""
    for suffix in (".samples.jsonl", ".samples.jsonl.gz"):
        candidate = record_path.with_name(record_path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def read_samples(path: Path, max_bytes: int | None = None) -> list[dict[str, Any]]:
    """Per-sample rows from a plain or gzipped samples file. A line that is not a JSON object,
    or a file that decompresses past `max_bytes` (a submission is untrusted), raises ValueError."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    rows, read = [], 0
    with opener(path, "rb") as f:
        number = 0
        while line := f.readline(-1 if max_bytes is None else max_bytes - read + 1):  # never past the cap
            number += 1
            read += len(line)
            if max_bytes is not None and read > max_bytes:
                raise ValueError(f"decompresses past the {max_bytes:,}-byte cap")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"line {number} is not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise ValueError(f"line {number} is not a JSON object")
            rows.append(row)
    return rows
