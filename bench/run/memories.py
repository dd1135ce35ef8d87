"""The one door to the memory registry (`baselines/`) for everything above the run layer.

Reports, figures and the validator see memories only as records (a name and a config); they
ask here what such a memory can do and how to show it, never test the name themselves.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from baselines import MEMORIES, make_memory, memory_class, memory_label
from baselines.profiles import DEFAULT_PROFILE, PROFILES
from bench.core.config import hint_name
from bench.core.errors import UserError
from bench.core.memory import Memory, Traits

__all__ = ["MEMORIES", "make_memory", "memory_class", "memory_label", "memory_reference", "traits_of"]


def traits_of(name: str, config: Mapping[str, Any] | None = None) -> Traits:
    """A memory's traits from its record: the built memory's when its config builds (a hybrid's
    depend on its parts), else its class's; an unknown name gets the neutral defaults."""
    if name not in MEMORIES:
        return Traits()
    if config is not None:
        try:
            memory: Memory = make_memory(name, dict(config), int(config.get("seed", 0)))
            return memory.traits
        except (UserError, ValueError, TypeError):
            pass  # e.g. a partition file that is not on this machine: the class still says enough
    return MEMORIES[name].traits


def memory_reference() -> str:
    """The memory reference in docs/, written from the config classes themselves (each field's type
    hint, default, help and what every other profile sets), so it cannot drift from the code."""
    others = [name for name in PROFILES if name != DEFAULT_PROFILE]
    out = []
    for name, cls in MEMORIES.items():
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        out.append(f"### `{name}`\n\n{' '.join(doc.split())} Family: {cls.traits.family}.\n")
        fields = dataclasses.fields(cls.config_class)
        if not fields:
            out.append("No fields: nothing changes it.\n")
            continue
        hints = typing.get_type_hints(cls.config_class)
        head = "| field | type | default | " + "".join(f"`{p}` profile | " for p in others) + "what it does |"
        rows = [head, "|---" * (4 + len(others)) + "|"]
        for f in fields:
            set_by = [PROFILES[p].get(name, {}).get(f.name, dataclasses.MISSING) for p in others]
            cells = [f"`{f.name}`", f"`{hint_name(hints[f.name])}`", shown(f.default), *map(shown, set_by)]
            rows.append("| " + " | ".join(cells) + f" | {f.metadata.get('help', '')} |")
        out.append("\n".join(rows) + "\n")
    return "\n".join(out)


def shown(value: Any) -> str:
    """A value as a user would write it in a config file; blank where a profile leaves it alone."""
    if value is dataclasses.MISSING:
        return ""
    if isinstance(value, tuple):
        return "`" + ",".join(map(str, value)) + "`" if value else "(none)"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"
