"""In-context learning: the corpus itself, in order, packed into the prompt up to the budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.memory import Corpus, Footprint, Memory, Query, Recall
from bench.models import LoadedModel
from bench.packing import count_tokens, pack


@dataclass(frozen=True)
class ICLConfig:
    pass


class ICLMemory(Memory):
    name = "icl"
    config_class = ICLConfig

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        self._texts = [d.contents for d in corpus.documents]
        self._tokens = [count_tokens(model.tokenizer, t) for t in self._texts]
        self._bytes = sum(len(t.encode()) for t in self._texts)

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        packed = pack(self._texts, self._tokens, budget_tokens)
        same = Recall(context=packed.text, dropped=packed.dropped)
        return [same for _ in queries]

    def footprint(self) -> Footprint:
        return Footprint(storage_bytes=self._bytes, write_tokens=sum(self._tokens))
