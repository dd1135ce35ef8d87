"""Every memory backend KMBench ships, by name. A new backend is one file plus one line here."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from baselines.icl import ICLMemory
from baselines.lora import LoRAMemory
from baselines.none import NoneMemory
from baselines.rag import RAGMemory
from bench.config import config_dict, parse_config
from bench.errors import UserError
from bench.memory import Memory, build_registry

MEMORIES = build_registry([NoneMemory, ICLMemory, RAGMemory, LoRAMemory])


def memory_class(name: str) -> type[Memory]:
    if name not in MEMORIES:
        raise UserError(f"unknown memory {name!r}; known: {', '.join(MEMORIES)}")
    return MEMORIES[name]


def make_memory(name: str, values: Mapping[str, Any], seed: int) -> Memory:
    """A memory with its config validated; a `seed` field not set by the user takes the run's."""
    cls = memory_class(name)
    has_seed = any(f.name == "seed" for f in dataclasses.fields(cls.config_class))
    if has_seed and "seed" not in values:
        values = {**values, "seed": seed}
    return cls(parse_config(cls.config_class, values, where=f"memory {name}"))


def memory_label(memory: Memory) -> str:
    """The name, plus the config fields (other than seed) that differ from the defaults."""
    defaults = config_dict(memory.config_class())
    changed = {k: v for k, v in config_dict(memory.config).items() if v != defaults.get(k) and k != "seed"}
    if not changed:
        return memory.name
    return memory.name + "(" + ",".join(f"{k}={v}" for k, v in sorted(changed.items())) + ")"
