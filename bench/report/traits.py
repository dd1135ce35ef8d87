"""What the reports show of a memory besides its label: its traits (family, order, colour), as
frame columns added once where records are loaded, so no report or figure tests a memory's name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from bench.run.memories import traits_of

# frame column -> Traits field
TRAIT_COLUMNS = {"memory_family": "family", "memory_order": "order", "memory_color": "color"}
_seen: dict[tuple[str, str], dict[str, Any]] = {}


def trait_columns(name: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A record's memory's trait columns (a hybrid's depend on its config), computed once per (name, config)."""
    key = (name, json.dumps(config, sort_keys=True, default=str))
    if key not in _seen:
        traits = traits_of(name, config)
        _seen[key] = {column: getattr(traits, attr) for column, attr in TRAIT_COLUMNS.items()}
    return _seen[key]


def with_traits(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its trait columns; rows built without them (not from records) get their
    memory class's traits."""
    if frame.empty or all(column in frame for column in TRAIT_COLUMNS):
        return frame
    found = pd.DataFrame([trait_columns(str(name)) for name in frame["memory_name"]], index=frame.index)
    return frame.assign(**{column: found[column] for column in TRAIT_COLUMNS})
