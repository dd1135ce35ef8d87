"""What makes two runs the same run: the fields hashed into a run id.

The runner hashes them before a run to skip one whose record exists; the validator hashes
them again from a submitted record, so a run id (and so a record's place on the board) can
only be the one its own model, task, memory config, seed and settings give.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.core.config import stable_hash


@dataclass(frozen=True)
class RunIdentity:
    model_id: str
    chat_template: bool
    task: str
    task_version: str
    corpus_sha256: str
    memory: str
    config: Mapping[str, Any]  # the memory's full config, defaults filled in
    seed: int
    limit: int | None
    context_budget: int | None  # what the user asked for; None: the model's window
    judge: str | None = None  # the judge model, for judged tasks only
    judge_rubric: str | None = None  # its rubric's hash; None for the legacy rubric, keyed without one
    judge_endpoint: str | None = None  # the OpenAI-compatible API the judge answered from, if any
    answer_turn: str = "assistant"  # keyed only when not the default, so older run ids stay as they were
    previous_corpus_sha256: str | None = None  # an update task's old book; keyed only when set, likewise

    def run_id(self) -> str:
        """`<memory>-<12 hex>`: the memory's name, then a hash of every field above."""
        identity = {
            "model": self.model_id,
            "chat_template": self.chat_template,
            "task": self.task,
            "version": self.task_version,
            "corpus": self.corpus_sha256,
            "memory": self.memory,
            "config": dict(self.config),
            "seed": self.seed,
            "limit": self.limit,
            "context_budget": self.context_budget,
            **({"judge": self.judge} if self.judge else {}),
            **({"judge_rubric": self.judge_rubric} if self.judge_rubric else {}),
            **({"judge_endpoint": self.judge_endpoint} if self.judge_endpoint else {}),
            **({"answer_turn": self.answer_turn} if self.answer_turn != "assistant" else {}),
            **({"previous_corpus": self.previous_corpus_sha256} if self.previous_corpus_sha256 else {}),
        }
        return f"{self.memory}-{stable_hash(identity)}"
