"""Split a corpus into the parts that multi-LoRA trains one adapter each on.

Parts are contiguous runs of documents (so related documents that sit together stay
together), balanced by document count or by token count, or read from a partition file
that maps document ids to part numbers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.core.errors import UserError
from bench.core.memory import Corpus, Document

SPLITS = ("documents", "tokens", "file")


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
