"""The memory interface every backend implements, and the small types it exchanges.

A memory ingests a corpus once (`write`) and, for a batch of queries, says what the reader
should add (`recall`): text placed before the question and/or LoRA adapters to activate.
The reader, not the memory, generates and counts tokens, so all backends are measured alike.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.errors import UserError
from bench.models import LoadedModel


@dataclass(frozen=True)
class Document:
    id: str
    contents: str


@dataclass(frozen=True)
class Corpus:
    """The knowledge to memorize, as FlashRAG-style `{id, contents}` documents."""

    name: str
    documents: tuple[Document, ...]

    @property
    def sha256(self) -> str:
        blob = "\n".join(json.dumps([d.id, d.contents]) for d in self.documents)
        return hashlib.sha256(blob.encode()).hexdigest()

    @classmethod
    def from_jsonl(cls, path: Path, name: str | None = None) -> Corpus:
        """Read a corpus file; a malformed line is reported with its file and line number."""
        from bench.taskdata import read_jsonl_objects

        documents = []
        for number, row in read_jsonl_objects(path, "corpus"):
            if not isinstance(row.get("contents"), str):
                raise UserError(f"{path}:{number}: field 'contents' must be a string")
            documents.append(Document(id=str(row.get("id", number)), contents=row["contents"]))
        if not documents:
            raise UserError(f"{path}: the corpus is empty")
        return cls(name=name or path.stem, documents=tuple(documents))


@dataclass(frozen=True)
class Query:
    """One question as the memory sees it; `gold_doc` (the corpus document that answers it, when
    the task says) is for oracle routing and for scoring a router, never for answering."""

    text: str
    gold_doc: str | None = None


@dataclass(frozen=True)
class Routing:
    """Which modules a router chose for a query, and which one the oracle would have chosen."""

    chosen: tuple[str, ...]
    gold: str | None  # None: the question's document is in no module (or the task names none)

    @property
    def precision(self) -> float | None:
        """Precision@k against the oracle: the share of chosen modules that hold the answer."""
        if self.gold is None:
            return None
        return (self.gold in self.chosen) / len(self.chosen) if self.chosen else 0.0


@dataclass(frozen=True)
class Recall:
    """What a memory adds to one query."""

    context: str = ""
    adapters: tuple[str, ...] = ()
    weights: tuple[float, ...] | None = None
    dropped: int = 0  # knowledge pieces that did not fit the context budget
    routing: Routing | None = None  # set by memories that route among modules


@dataclass(frozen=True)
class Footprint:
    """What the memory costs to build and keep, for the cost columns of a record."""

    trainable_params: int = 0
    storage_bytes: int = 0
    index_vectors: int = 0
    write_tokens: int = 0
    write_flops: float = 0.0
    # A memory restored from cache reports what building it cost then, not the load time now.
    write_seconds: float | None = None
    write_peak_mb: float | None = None
    cached: bool = False


class Memory(ABC):
    """A way of giving the model knowledge. Subclasses set `name` and `config_class`."""

    name: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, config: Any) -> None:
        self.config = config

    @abstractmethod
    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        """Ingest the corpus: train adapters, build an index, or keep the documents."""

    @abstractmethod
    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        """One `Recall` per query; any context must fit in `budget_tokens` tokens."""

    def footprint(self) -> Footprint:
        return Footprint()


def build_registry(classes: Iterable[type[Memory]]) -> Mapping[str, type[Memory]]:
    """Name -> class, refusing two backends with one name."""
    registry: dict[str, type[Memory]] = {}
    for cls in classes:
        if cls.name in registry:
            raise ValueError(f"two memories named {cls.name!r}: {registry[cls.name]} and {cls}")
        registry[cls.name] = cls
    return registry
