"""Every memory backend KMBench ships, by name. A new backend is one file plus one line here."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from baselines.hybrid import HybridMemory
from baselines.icl import ICLMemory
from baselines.lora import DCDMemory, LoRAMemory
from baselines.multilora import MultiLoRAMemory
from baselines.none import NoneMemory
from baselines.profiles import DEFAULT_PROFILE, profile_values
from baselines.rag import RAGMemory
from bench.core.config import config_dict, parse_config
from bench.core.errors import UserError
from bench.core.memory import Memory, build_registry

MEMORIES = build_registry([NoneMemory, ICLMemory, RAGMemory, LoRAMemory, DCDMemory, MultiLoRAMemory, HybridMemory])


def memory_class(name: str) -> type[Memory]:
    """Look a backend up by the name a user writes, with the known names in the error."""
    if name not in MEMORIES:
        raise UserError(f"unknown memory {name!r}; known: {', '.join(MEMORIES)}")
    return MEMORIES[name]


def make_memory(name: str, values: Mapping[str, Any], seed: int) -> Memory:
    """A memory with its config validated and, for a composite memory, its parts built (each with
    the composite's seed); a `seed` field not set by the user takes the run's, and fields the
    user leaves out take their profile's values (`baselines.profiles`) before the class defaults."""
    cls = memory_class(name)
    known = {f.name for f in dataclasses.fields(cls.config_class)}
    if "seed" in known and "seed" not in values:
        values = {**values, "seed": seed}
    if "profile" in known:
        values = {**profile_values(values.get("profile", DEFAULT_PROFILE), name), **values}
    config = parse_config(cls.config_class, values, where=f"memory {name}")
    parts = [make_memory(part, fields, getattr(config, "seed", seed)) for part, fields in cls.parts_of(config)]
    try:
        return cls(config, parts) if parts else cls(config)
    except ValueError as exc:
        raise UserError(f"memory {name}: {exc}") from None


def label_of(name: str, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """`name@profile(field=value,...)`: the profile unless it is the default one, then the fields
    (other than seed) that differ from what that profile gives."""
    profile = str(values.get("profile", DEFAULT_PROFILE))
    if profile != DEFAULT_PROFILE:
        defaults = {**defaults, **profile_values(profile, name)}
        name = f"{name}@{profile}"
    skip = ("seed", "profile")
    changed = {k: v for k, v in values.items() if v != defaults.get(k) and k not in skip}
    if not changed:
        return name
    return name + "(" + ",".join(f"{k}={show(v)}" for k, v in sorted(changed.items())) + ")"


def show(value: Any) -> str:
    """Lists as `a+b`, and a hybrid's part mappings as their own labels."""
    if isinstance(value, list):
        return "+".join(show(v) for v in value)
    if isinstance(value, dict) and isinstance(value.get("memory"), str):
        fields = {k: v for k, v in value.items() if k != "memory"}
        defaults = config_dict(memory_class(value["memory"]).config_class())
        return label_of(value["memory"], fields, defaults)
    return str(value)


def memory_label(memory: Memory) -> str:
    """The name, plus the config fields (other than seed) that differ from the defaults."""
    defaults = {f.name: f.default for f in dataclasses.fields(memory.config_class)}
    return label_of(memory.name, config_dict(memory.config), json.loads(json.dumps(defaults, default=str)))
