"""Cut texts into token windows and fit pieces into a token budget; ICL, RAG and routing share it
so chunking and truncation are counted alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SEPARATOR = "\n"


@dataclass(frozen=True)
class Packed:
    """Pieces that fit a budget, joined, with counts of what was kept and what the budget dropped."""

    text: str
    tokens: int
    kept: int
    dropped: int


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens without special tokens, the unit every context budget is counted in."""
    return len(tokenizer(text, add_special_tokens=False).input_ids)


def mean_tokens(tokenizer: Any, texts: Sequence[str]) -> float:
    """Texts' mean length in `count_tokens`'s unit: perf prints answers' beside their seconds."""
    return sum(count_tokens(tokenizer, t) for t in texts) / len(texts)


def pack(
    pieces: Sequence[str], piece_tokens: Sequence[int], budget: int, joiner: str = SEPARATOR, joiner_tokens: int = 1
) -> Packed:
    """Keep whole pieces in order while they fit, joined by `joiner` (`joiner_tokens` each)."""
    kept: list[str] = []
    used = 0
    for piece, n in zip(pieces, piece_tokens, strict=True):
        cost = n + (joiner_tokens if kept else 0)
        if used + cost > budget:
            break
        kept.append(piece)
        used += cost
    return Packed(joiner.join(kept), used, len(kept), len(pieces) - len(kept))


def joiner_cost(tokenizer: Any, joiner: str) -> tuple[str, int]:
    """A joiner and the tokens `pack` counts for it: the default separator as one, as every record
    before joiners existed was packed, any other as its own token count."""
    return joiner, 1 if joiner == SEPARATOR else count_tokens(tokenizer, joiner)


def instruction_cost(tokenizer: Any, instruction: str) -> int:
    """Tokens an instruction takes from the budget: its own and the separator after it (none if empty)."""
    return count_tokens(tokenizer, instruction) + 1 if instruction else 0


def with_instruction(instruction: str, text: str) -> str:
    """The instruction (if any) on the line before the packed context; no context, no instruction."""
    return f"{instruction}{SEPARATOR}{text}" if instruction and text else text


def chunk_document(token_ids: list[int], size: int, overlap: int) -> list[list[int]]:
    """Windows of `size` tokens, each starting `size - overlap` after the last; a short doc is one chunk."""
    if len(token_ids) <= size:
        return [token_ids]
    step = size - overlap
    return [token_ids[i : i + size] for i in range(0, len(token_ids) - overlap, step)]


def chunk_texts(tokenizer: Any, texts: Sequence[str], size: int, overlap: int) -> list[tuple[int, str]]:
    """(index of the source text, chunk text) for every window of every text, in order."""
    chunks = []
    for i, text in enumerate(texts):
        ids = tokenizer(text, add_special_tokens=False).input_ids
        chunks += [(i, tokenizer.decode(window)) for window in chunk_document(ids, size, overlap)]
    return chunks
