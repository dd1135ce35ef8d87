"""Split a corpus into the parts that multi-LoRA trains one adapter each on.

Parts are contiguous runs of documents (so related documents that sit together stay
together), balanced by document count or by token count, or read from a partition file
that maps document ids to part numbers. Or parts are cut inside the text (`window`): the
documents joined into one long document, cut into token windows with overlap, as the study
cuts its long documents (2,048 tokens with 200 of overlap, or 768 with 77). A window holds the
documents most of whose tokens lie in it, and the oracle routes their questions to it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.core.memory import Corpus, Document
from bench.model.packing import chunk_document

SPLITS = ("documents", "tokens", "file", "window")
WINDOW_JOIN = "\n\n"  # between documents in the one text that windows cut (the study's concatenation)


@dataclass(frozen=True)
class Window(Corpus):
    """A module cut from the corpus's joined text: its window as one document, and the corpus
    documents it holds (most of their tokens lie in it), whose questions the oracle sends here."""

    holds: tuple[str, ...] = ()


def held_documents(part: Corpus) -> tuple[str, ...]:
    """The corpus documents a module answers for: a window's holdings, else its own documents."""
    return part.holds if isinstance(part, Window) else tuple(d.id for d in part.documents)


def window_layout(sizes: Sequence[int], join: int, size: int, overlap: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Token spans `[start, end)` of the windows over documents of `sizes` tokens joined by `join`
    tokens, and each document's window: the one holding most of its tokens (the first on a tie)."""
    starts, position = [], 0
    for n in sizes:
        starts.append(position)
        position += n + join
    total = max(1, position - join)
    spans = [(w[0], w[-1] + 1) for w in chunk_document(list(range(total)), size, overlap)]

    def owner(start: int, n: int) -> int:
        shared = [min(end, start + n) - max(begin, start) for begin, end in spans]
        return max(range(len(spans)), key=lambda k: (shared[k], -k))

    return spans, [owner(start, n) for start, n in zip(starts, sizes, strict=True)]


def window_owners(corpus: Corpus, size: int, overlap: int, count_tokens: Callable[[str], int]) -> dict[str, int]:
    """Each document's window, from token counts alone (what the validator re-derives the oracle with)."""
    sizes = [count_tokens(d.contents) for d in corpus.documents]
    _, owners = window_layout(sizes, count_tokens(WINDOW_JOIN), size, overlap)
    return {d.id: k for d, k in zip(corpus.documents, owners, strict=True)}


def split_windows(corpus: Corpus, size: int, overlap: int, tokenizer: Any) -> list[Window]:
    """The corpus as one text (documents joined by a blank line), cut into windows of `size`
    tokens, each starting `size - overlap` after the one before; each document is tokenized on
    its own, so the cut matches `window_owners`' counts exactly."""
    docs = corpus.documents
    pieces = [tokenizer(d.contents, add_special_tokens=False).input_ids for d in docs]
    join = tokenizer(WINDOW_JOIN, add_special_tokens=False).input_ids
    ids = [token for i, piece in enumerate(pieces) for token in (join if i else []) + piece]
    spans, owners = window_layout([len(p) for p in pieces], len(join), size, overlap)
    return [
        Window(
            f"{corpus.name}/window{k}",
            (Document(f"window{k}", tokenizer.decode(ids[start:end])),),
            holds=tuple(d.id for d, o in zip(docs, owners, strict=True) if o == k),
        )
        for k, (start, end) in enumerate(spans)
    ]


def contiguous_cuts(sizes: Sequence[int], parts: int) -> list[int]:
    """Start index of each part: cut where the running total passes the next equal share, or
    where the documents left are just enough to give every remaining part one."""
    total, starts, running = sum(sizes), [0], 0
    for i, size in enumerate(sizes[:-1]):
        running += size
        need, left = parts - len(starts), len(sizes) - i - 1
        if need and (left == need or (running >= total * len(starts) / parts and left >= need)):
            starts.append(i + 1)
    return starts


def read_partition(path: Path, corpus: Corpus) -> list[int]:
    """Each document's part from a JSON object `{doc_id: part}`; every document needs one."""
    try:
        mapping = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read partition file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not JSON ({exc.msg}); expected {{doc_id: part number}}") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, int) and v >= 0 for v in mapping.values()):
        raise UserError(f"{path}: expected a JSON object mapping document ids to part numbers 0, 1, ...")
    missing = [d.id for d in corpus.documents if d.id not in mapping]
    if missing:
        raise UserError(f"{path}: no part for {len(missing)} document(s), e.g. {missing[0]!r}")
    return [mapping[d.id] for d in corpus.documents]


def split_corpus(
    corpus: Corpus, parts: int, by: str, count_tokens: Callable[[str], int], partition: Path | None = None
) -> list[Corpus]:
    """`parts` non-empty corpora named `<corpus>/part<i>`; together they hold every document once."""
    docs = corpus.documents
    if by == "window":
        raise ValueError("split 'window' cuts inside documents and needs the tokenizer: use split_windows")
    if by == "file":
        if partition is None:
            raise UserError("split 'file' needs a partition file")
        labels = read_partition(partition, corpus)
        numbers = sorted(set(labels))
        labelled = list(zip(docs, labels, strict=True))
        groups: list[list[Document]] = [[d for d, label in labelled if label == n] for n in numbers]
    else:
        if parts > len(docs):
            raise UserError(f"cannot split {len(docs)} documents into {parts} modules")
        sizes = [1] * len(docs) if by == "documents" else [count_tokens(d.contents) for d in docs]
        starts = [*contiguous_cuts(sizes, parts), len(docs)]
        groups = [list(docs[a:b]) for a, b in itertools.pairwise(starts)]
    return [Corpus(f"{corpus.name}/part{i}", tuple(g)) for i, g in enumerate(groups)]
