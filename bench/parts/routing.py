"""Routers: which of K knowledge modules a query should switch on.

- `oracle`: the module holding the question's gold document (the task's `doc_id`); the
  upper bound that isolates storage from routing. Where modules are windows cut inside the
  text, the window that holds most of that document. A question whose document is in no
  module (e.g. the forgetting probe's) gets no module.
- `embedding`: sentence-embedding search (faiss, exact inner product) over every module's
  document chunks; a module scores its best chunk; the top-k modules win.
- `all`: every module for every query, for merging them all into one adapter.
Router accuracy is precision@k against the oracle (`Routing.precision`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.core.memory import Corpus, Query, Routing
from bench.model.embedding import embed, load_embedder
from bench.model.packing import chunk_texts
from bench.parts.modules import held_documents

ROUTERS = ("oracle", "embedding", "all")
ROUTER_METRIC = "router_precision"
SEARCH_DEPTH = 1024  # chunks looked at per query; a module with none among them is not a candidate


class Router:
    """Maps each document to its module; subclasses choose modules per query."""

    def __init__(self, modules: Sequence[Corpus]) -> None:
        self.n_modules = len(modules)
        self.module_of = {doc_id: i for i, part in enumerate(modules) for doc_id in held_documents(part)}

    def gold(self, query: Query) -> int | None:
        return self.module_of.get(query.gold_doc) if query.gold_doc is not None else None

    def route(self, queries: Sequence[Query], top_k: int) -> list[tuple[int, ...]]:
        raise NotImplementedError


class OracleRouter(Router):
    """The module that holds the question's document. A question from outside the corpus (the
    retention probe's) has none; it goes to a module picked by a hash of its text, so the probe
    measures what the modules do to outside knowledge, spread evenly and repeatably over them."""

    def route(self, queries: Sequence[Query], top_k: int) -> list[tuple[int, ...]]:
        return [(g,) if (g := self.gold(q)) is not None else (self.outside(q),) for q in queries]

    def outside(self, query: Query) -> int:
        return int(hashlib.sha256(query.text.encode()).hexdigest(), 16) % self.n_modules


class AllRouter(Router):
    def route(self, queries: Sequence[Query], top_k: int) -> list[tuple[int, ...]]:
        return [tuple(range(self.n_modules)) for _ in queries]


class EmbeddingRouter(Router):
    def __init__(
        self, modules: Sequence[Corpus], tokenizer: Any, embedder: str, chunk_tokens: int, device: str
    ) -> None:
        import faiss

        super().__init__(modules)
        texts, owners = [], []
        for i, part in enumerate(modules):
            pieces = chunk_texts(tokenizer, [d.contents for d in part.documents], chunk_tokens, chunk_tokens // 8)
            texts += [text for _, text in pieces]
            owners += [i] * len(pieces)
        self.owners = np.array(owners)
        self.embedder = load_embedder(embedder, device=device)
        vectors = embed(self.embedder, texts)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    def route(self, queries: Sequence[Query], top_k: int) -> list[tuple[int, ...]]:
        scores, hits = self.index.search(
            embed(self.embedder, [q.text for q in queries]), min(SEARCH_DEPTH, self.index.ntotal)
        )
        routes = []
        for row_scores, row_hits in zip(scores, hits, strict=True):
            best: dict[int, float] = {}
            for score, hit in zip(row_scores, row_hits, strict=True):  # hits come best first
                if hit >= 0:
                    best.setdefault(int(self.owners[hit]), float(score))
            routes.append(tuple(sorted(best, key=lambda m: -best[m])[:top_k]))
        return routes

    @property
    def vectors(self) -> int:
        return self.index.ntotal


def router_precision(samples: Sequence[dict]) -> list[float]:
    """Each sample's precision@k from its logged routing, where the oracle knows its module."""
    routings = [Routing(tuple(r.get("chosen") or ()), r.get("gold")) for s in samples if (r := s.get("routing"))]
    return [r.precision for r in routings if r.precision is not None]
