"""In-context learning: the corpus itself, in order, packed into the prompt up to the budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.core.memory import Corpus, Footprint, LoadedModel, Memory, Query, Recall, Traits
from bench.model.packing import count_tokens, pack


@dataclass(frozen=True)
class ICLConfig:
    """No knobs: the context budget alone decides how much of the corpus fits."""


class ICLMemory(Memory):
    """The long-context baseline: every question sees the same corpus prefix that fits the budget."""

    name = "icl"
    traits = Traits(family="context", order=1, color="#1f77b4")
    config_class = ICLConfig

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        """Keep the documents and their token counts, so recall only has to pack."""
        self._texts = [d.contents for d in corpus.documents]
        self._tokens = [count_tokens(model.tokenizer, t) for t in self._texts]
        self._bytes = sum(len(t.encode()) for t in self._texts)

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        """The same packed prefix for every query; what does not fit is counted as dropped."""
        packed = pack(self._texts, self._tokens, budget_tokens)
        same = Recall(context=packed.text, dropped=packed.dropped)
        return [same for _ in queries]

    def footprint(self) -> Footprint:
        """Only the text is stored; writing costs the tokenization, no compute."""
        return Footprint(storage_bytes=self._bytes, write_tokens=sum(self._tokens))
