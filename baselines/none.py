"""Closed book: the floor every other memory is measured against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.core.memory import Corpus, LoadedModel, Memory, Query, Recall, Traits


@dataclass(frozen=True)
class NoneConfig:
    """Nothing to configure: the floor must not vary."""


class NoneMemory(Memory):
    """Answers from the base model's weights alone, to show what the other memories add."""

    name = "none"
    traits = Traits(family="closed_book", order=0, color="#7f7f7f")
    config_class = NoneConfig

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        """Ignore the corpus: a closed book keeps nothing."""

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        """An empty recall per query, so the reader sees only the question."""
        return [Recall() for _ in queries]
