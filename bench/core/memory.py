"""The memory interface every backend implements, and the small types it exchanges.

A memory ingests a corpus once (`write`) and, for a batch of queries, says what the reader
should add (`recall`): text placed before the question and/or LoRA adapters to activate.
The reader, not the memory, generates and counts tokens, so all backends are measured alike.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.core.errors import UserError

# Where a question asked in the chat template is answered. "assistant": the user turn is closed and
# the model replies, as every chat model is asked. "user": the model continues the user turn, the
# layout the study trains PhoneBook lines in (its ntp_trainer.py puts the whole line in the user
# turn), so a row can tell facts a LoRA stored from facts it can say in its reply.
ANSWER_TURNS = ("assistant", "user")


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer, as `bench.model.loading.load_model` returns it.

    It belongs to the contract because every memory writes into it and the reader answers
    with it; one is shared by the backends and the reader for a whole invocation.
    """

    name: str  # what the user asked for: an alias, a hub id or a folder
    source: str  # what `from_pretrained` read
    model_id: str  # what identifies the weights in records: a converted alias's folder name, else the source
    model: Any
    tokenizer: Any
    device: Any  # torch.device; typed loosely so the contract imports no torch
    chat_template: bool = False  # wrap prompts in the tokenizer's chat template (read and train alike)
    answer_turn: str = "assistant"  # in the chat template, where the answer is read: see ANSWER_TURNS
    n_params: int = 0  # of the base model, counted before any adapter is injected
    peft: Any = None  # a peft.PeftModel around `model` once an adapter is loaded (see bench.model.adapters)

    @property
    def context_window(self) -> int:
        """Tokens the model attends over; budgets are cut to fit it."""
        return int(getattr(self.model.config, "max_position_embeddings", 2048))


@dataclass(frozen=True)
class Document:
    """One piece of knowledge, as FlashRAG stores it: an id questions can point at, and its text."""

    id: str
    contents: str


@dataclass(frozen=True)
class Corpus:
    """The knowledge to memorize, as FlashRAG-style `{id, contents}` documents."""

    name: str
    documents: tuple[Document, ...]

    @property
    def sha256(self) -> str:
        """A fingerprint of ids and texts in order: run ids and cached adapters are keyed by it."""
        blob = "\n".join(json.dumps([d.id, d.contents]) for d in self.documents)
        return hashlib.sha256(blob.encode()).hexdigest()

    @classmethod
    def from_jsonl(cls, path: Path, name: str | None = None) -> Corpus:
        """Read a corpus file; a malformed line is reported with its file and line number."""
        from bench.core.jsonl import read_jsonl_objects

        documents = []
        for number, row in read_jsonl_objects(path, "corpus"):
            if not isinstance(row.get("contents"), str):
                raise UserError(f"{path}:{number}: field 'contents' must be a string")
            documents.append(Document(id=str(row.get("id", number)), contents=row["contents"]))
        if not documents:
            raise UserError(f"{path}: the corpus is empty")
        return cls(name=name or path.stem, documents=tuple(documents))

    def changed_since(self, old: Corpus) -> Corpus:
        """The documents of this version that `old` does not hold as they are now (new ids and
        rewritten ones): what an update has to learn."""
        before = {(d.id, d.contents) for d in old.documents}
        return Corpus(f"{self.name}-changes", tuple(d for d in self.documents if (d.id, d.contents) not in before))


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
    dropped: int = 0  # knowledge pieces that did not fit the context budget
    routing: Routing | None = None  # set by memories that route among modules
    # (name, folder) of adapters read from disk around this query's answer and dropped after it,
    # for a memory that keeps its adapters on disk rather than loaded (multilora `loading: per_query`)
    on_disk: tuple[tuple[str, Path], ...] = ()


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


# The comparisons a memory can take part in: the floor, the context-budget curves (knowledge in
# the prompt), the capacity grid (one adapter), module routing and merging, and combinations.
FAMILIES = ("closed_book", "context", "parametric", "modular", "hybrid", "other")


@dataclass(frozen=True)
class Traits:
    """What a memory can do and how it is shown, declared on its class, so that no code outside
    `baselines/` ever tests a memory's name (the validator, the reporter, the figures and the
    retention probe all ask this)."""

    family: str = "other"  # which comparison it belongs to; see FAMILIES
    installs_adapters: bool = False  # switches adapters on at answer time: the retention probe applies
    trains_parameters: bool = False  # writing trains weights (write cost is training)
    routes: bool = False  # chooses among modules per query (router precision applies)
    order: int = 99  # place in tables, legends and bars: closed book first
    color: str = "#7f7f7f"  # its colour in every plot

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {self.family!r}")
        if not (self.color.startswith("#") and len(self.color) == 7):
            raise ValueError(f"colour must be #rrggbb, not {self.color!r}")


class Memory(ABC):
    """A way of giving the model knowledge: `write` it once, then `recall` per batch of queries.

    Subclasses set `name`, `config_class` (a frozen dataclass) and `traits`. A memory made of
    other memories (a hybrid) names them in `parts_of(config)`; the registry builds those parts
    and passes them in, so no backend imports the registry.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    traits: Traits = Traits()

    def __init__(self, config: Any, parts: Sequence[Memory] = ()) -> None:
        self.config = config
        self.parts = tuple(parts)

    @classmethod
    def parts_of(cls, config: Any) -> list[tuple[str, dict[str, Any]]]:
        """(memory name, fields) of each memory this one is composed of; none for most."""
        return []

    @abstractmethod
    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        """Ingest the corpus: train adapters, build an index, or keep the documents."""

    @abstractmethod
    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        """One `Recall` per query; any context must fit in `budget_tokens` tokens."""

    def update(self, old: Corpus, new: Corpus, model: LoadedModel) -> Footprint:
        """Take the book's new version after `write(old)` (the update tasks); returns what the
        update cost, as a footprint (`write_seconds` None: the caller's clock). The default
        rebuilds from the new book, the natural update of a memory that holds the text whole
        (ICL replaces its context); memories with a cheaper way (RAG re-indexes the changed
        documents, LoRA may continue training) override it."""
        self.write(new, model)
        return self.footprint()

    def module_of(self, corpus: Corpus, count_tokens: Callable[[str], int]) -> Mapping[str, str]:
        """For a memory that routes: which module holds each document id, as its oracle sees it
        (the validator re-derives every logged oracle gold from this, not from the log); empty
        for memories without modules."""
        return {}

    def footprint(self) -> Footprint:
        """What writing cost and what keeping the memory costs; a memory that holds nothing costs nothing."""
        return Footprint()

    def training_log(self) -> Mapping[str, Any] | None:
        """The last write's training log (its mean loss per epoch, `losses`, over `steps` steps),
        saved beside the records for the figures' loss curves: what a score of 0 alone cannot say
        is whether training converged. None for a memory that trains no single adapter."""
        return None

    def installed(self) -> Mapping[str, Path]:
        """The adapters the last write (or update) put on the model, peft name -> saved folder:
        what `bench.model.adapters.bare_model` takes out when the evaluation ends. Empty for a
        memory that keeps text or an index (its `footprint` says what it keeps) or reads its
        adapters from disk per query; merges built from installed adapters are not listed."""
        return {}


def build_registry(classes: Iterable[type[Memory]]) -> Mapping[str, type[Memory]]:
    """Name -> class, refusing two backends with one name."""
    registry: dict[str, type[Memory]] = {}
    for cls in classes:
        if cls.name in registry:
            raise ValueError(f"two memories named {cls.name!r}: {registry[cls.name]} and {cls}")
        registry[cls.name] = cls
    return registry
