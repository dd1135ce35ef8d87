"""Retrieval: token-window chunks, sentence embeddings, exact faiss inner-product search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from baselines.profiles import DEFAULT_PROFILE, check_profile
from bench.core.config import check, option
from bench.core.memory import Corpus, Footprint, LoadedModel, Memory, Query, Recall, Traits
from bench.model.embedding import embed, load_embedder, param_count
from bench.model.packing import chunk_texts, count_tokens, instruction_cost, joiner_cost, pack, with_instruction


@dataclass(frozen=True)
class RAGConfig:
    """Retrieval knobs swept in the paper: chunking granularity and how many chunks to retrieve."""

    profile: str = option(DEFAULT_PROFILE, "the named protocol the other fields start from (baselines/profiles.py)")
    embedder: str = option("all-MiniLM-L6-v2", "sentence-transformers model that embeds chunks and questions")
    chunk_tokens: int = option(128, "tokens per chunk")
    chunk_overlap: int = option(16, "tokens a chunk shares with the one before")
    top_k: int = option(1, "chunks retrieved per question")
    instruction: str = option("", "put before the chunks (the study's RAG prompt has one); it counts in the budget")
    joiner: str = option("\n", "between chunks (the study's: a blank line)")
    chunk_across: bool = option(
        False,
        "false: each document is chunked on its own; true: the corpus is one text (a line a document, "
        "as in a file) cut into windows, as the study indexes a whole CSV file",
    )

    def __post_init__(self) -> None:
        check_profile(self.profile)
        check(self.chunk_tokens > 0, "chunk_tokens must be positive")
        check(0 <= self.chunk_overlap < self.chunk_tokens, "chunk_overlap must be in [0, chunk_tokens)")
        check(self.top_k > 0, "top_k must be positive")


class RAGMemory(Memory):
    """The retrieval baseline: only the chunks nearest each question enter its prompt."""

    name = "rag"
    traits = Traits(family="context", order=2, color="#2ca02c")
    config_class = RAGConfig

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        """Chunk with the reader's tokenizer (so budgets are in reader tokens) and index the embeddings."""
        cfg = self.config
        tok = model.tokenizer
        self._tokenizer = tok
        self._embedder = load_embedder(cfg.embedder, device=str(model.device))
        self._instruction_tokens = instruction_cost(tok, cfg.instruction)
        self._joiner = joiner_cost(tok, cfg.joiner)
        if cfg.chunk_across:  # one text: no chunk belongs to one document
            pieces = [("", text) for _, text in self._chunked(["\n".join(d.contents for d in corpus.documents)])]
        else:
            pieces = self._pieces(corpus)
        self._owners = [owner for owner, _ in pieces]
        self._chunks = [text for _, text in pieces]
        self._chunk_tokens = [count_tokens(tok, c) for c in self._chunks]
        self._vectors = embed(self._embedder, self._chunks)
        self._build_index()

    def update(self, old: Corpus, new: Corpus, model: LoadedModel) -> Footprint:
        """Re-index what changed: chunks of removed and rewritten documents leave the index, and
        only the new and rewritten documents are embedded. A corpus chunked as one text rebuilds."""
        if self.config.chunk_across:
            return super().update(old, new, model)
        changed = new.changed_since(old)
        stays = {d.id for d in new.documents} - {d.id for d in changed.documents}
        kept = [i for i, owner in enumerate(self._owners) if owner in stays]
        pieces = self._pieces(changed)
        texts = [text for _, text in pieces]
        tokens = [count_tokens(self._tokenizer, t) for t in texts]
        vectors = embed(self._embedder, texts) if texts else self._vectors[:0]
        self._owners = [self._owners[i] for i in kept] + [owner for owner, _ in pieces]
        self._chunks = [self._chunks[i] for i in kept] + texts
        self._chunk_tokens = [self._chunk_tokens[i] for i in kept] + tokens
        self._vectors = np.concatenate([self._vectors[kept], vectors])
        self._build_index()
        embedded = sum(tokens)
        return Footprint(
            index_vectors=len(texts), write_tokens=embedded, write_flops=2.0 * param_count(self._embedder) * embedded
        )

    def _chunked(self, texts: list[str]) -> list[tuple[int, str]]:
        return chunk_texts(self._tokenizer, texts, self.config.chunk_tokens, self.config.chunk_overlap)

    def _pieces(self, corpus: Corpus) -> list[tuple[str, str]]:
        """(document id, chunk text) of every chunk of every document, in order."""
        return [(corpus.documents[i].id, text) for i, text in self._chunked([d.contents for d in corpus.documents])]

    def _build_index(self) -> None:
        import faiss

        self._index = faiss.IndexFlatIP(self._vectors.shape[1])
        self._index.add(self._vectors)
        self._write_tokens = sum(self._chunk_tokens)
        self._bytes = self._vectors.nbytes + sum(len(c.encode()) for c in self._chunks)

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        """The top-k chunks per query, best first, packed to the budget."""
        k = min(self.config.top_k, len(self._chunks))
        _, hits = self._index.search(embed(self._embedder, [q.text for q in queries]), k)
        recalls = []
        for row in hits:
            ids = [int(i) for i in row if i >= 0]
            room = max(0, budget_tokens - self._instruction_tokens)
            packed = pack([self._chunks[i] for i in ids], [self._chunk_tokens[i] for i in ids], room, *self._joiner)
            context = with_instruction(self.config.instruction, packed.text)
            recalls.append(Recall(context=context, dropped=packed.dropped))
        return recalls

    def footprint(self) -> Footprint:
        """Stored vectors plus chunk text; write FLOPs are the embedder's forward passes (2 x params x tokens)."""
        return Footprint(
            storage_bytes=self._bytes,
            index_vectors=self._index.ntotal,
            write_tokens=self._write_tokens,
            write_flops=2.0 * param_count(self._embedder) * self._write_tokens,
        )
