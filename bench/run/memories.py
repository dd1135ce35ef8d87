"""The one door to the memory registry (`baselines/`) for everything above the run layer.

Reports, figures and the validator see memories only as records (a name and a config); they
ask here what such a memory can do and how to show it, never test the name themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baselines import MEMORIES, make_memory, memory_class, memory_label
from bench.core.errors import UserError
from bench.core.memory import Memory, Traits

__all__ = ["MEMORIES", "make_memory", "memory_class", "memory_label", "traits_of"]


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
