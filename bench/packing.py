"""Fit text pieces into a token budget; ICL and RAG share it so truncation is counted alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SEPARATOR = "\n"


@dataclass(frozen=True)
class Packed:
    text: str
    tokens: int
    kept: int
    dropped: int


def count_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False).input_ids)


def pack(pieces: Sequence[str], piece_tokens: Sequence[int], budget: int) -> Packed:
    """Keep whole pieces in order while they fit (a separator costs one token each)."""
    kept: list[str] = []
    used = 0
    for piece, n in zip(pieces, piece_tokens, strict=True):
        cost = n + (1 if kept else 0)
        if used + cost > budget:
            break
        kept.append(piece)
        used += cost
    return Packed(SEPARATOR.join(kept), used, len(kept), len(pieces) - len(kept))
