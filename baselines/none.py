"""Closed book: the floor every other memory is measured against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.memory import Corpus, Memory, Query, Recall
from bench.models import LoadedModel


@dataclass(frozen=True)
class NoneConfig:
    pass


class NoneMemory(Memory):
    name = "none"
    config_class = NoneConfig

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        pass

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        return [Recall() for _ in queries]
