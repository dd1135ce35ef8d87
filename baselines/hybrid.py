"""Hybrids: several memories at once (LoRA+RAG, LoRA+ICL, multi-LoRA top-k + ICL ...).

A hybrid holds no knowledge of its own: each part writes and recalls as it would alone; the
hybrid joins their contexts (in order, each part getting what the earlier ones left of the
budget) and switches on all their adapters. Parts are names (`lora`) or mappings with a
`memory` key and that memory's fields, as in a memory config file.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.answer.reader import CONTEXT_SEPARATOR
from bench.core.config import check, option
from bench.core.memory import Corpus, Footprint, LoadedModel, Memory, Query, Recall, Traits
from bench.model.packing import count_tokens


def part_spec(part: Any) -> tuple[str, dict[str, Any]]:
    """(memory name, its fields) from `"lora"` or `{"memory": "lora", "rank": 8}`."""
    if isinstance(part, str):
        return part, {}
    if isinstance(part, Mapping) and isinstance(part.get("memory"), str):
        values = dict(part)
        return values.pop("memory"), values
    raise ValueError(f"a hybrid part is a memory name or a mapping with a `memory` key, not {part!r}")


@dataclass(frozen=True)
class HybridConfig:
    parts: tuple[Any, ...] = option((), "the memories combined: names, or mappings with a memory key and its fields")
    seed: int = option(0, "passed to every part (always the run's seed)")

    def __post_init__(self) -> None:
        check(len(self.parts) >= 2, "a hybrid needs at least two parts")
        for part in self.parts:  # the shape of each part now; its fields when the registry builds it
            part_spec(part)


class HybridMemory(Memory):
    name = "hybrid"
    config_class = HybridConfig
    traits = Traits(family="hybrid", order=5, color="#ff7f0e")

    @classmethod
    def parts_of(cls, config: HybridConfig) -> list[tuple[str, dict[str, Any]]]:
        return [part_spec(p) for p in config.parts]

    def __init__(self, config: HybridConfig, parts: Sequence[Memory] = ()) -> None:
        super().__init__(config, parts)
        check(len(self.parts) == len(config.parts), "a hybrid is built with its parts (use make_memory)")
        check(all(not p.parts for p in self.parts), "a hybrid's parts cannot be hybrids")
        check(sum(p.traits.installs_adapters for p in self.parts) <= 1, "a hybrid holds at most one adapter memory")
        # what the parts can do, the hybrid can do; it is shown as a hybrid
        self.traits = dataclasses.replace(
            type(self).traits,
            installs_adapters=any(p.traits.installs_adapters for p in self.parts),
            trains_parameters=any(p.traits.trains_parameters for p in self.parts),
            routes=any(p.traits.routes for p in self.parts),
        )

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        self._seconds = []
        for part in self.parts:
            started = time.perf_counter()
            part.write(corpus, model)
            self._seconds.append(time.perf_counter() - started)
        self._tokenizer = model.tokenizer

    def update(self, old: Corpus, new: Corpus, model: LoadedModel) -> Footprint:
        """Each part updates in its own way (a stale LoRA beside a fresh index: `update: keep` on the LoRA part)."""
        prints, seconds = [], []
        for part in self.parts:
            started = time.perf_counter()
            prints.append(part.update(old, new, model))
            seconds.append(time.perf_counter() - started)
        return summed(prints, seconds)

    def module_of(self, corpus: Corpus, count_tokens: Callable[[str], int]) -> dict[str, str]:
        """The routing part's modules (a hybrid holds at most one adapter memory)."""
        return {k: v for part in self.parts for k, v in part.module_of(corpus, count_tokens).items()}

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        joined = [Recall() for _ in queries]
        left = budget_tokens
        for part in self.parts:
            mine = part.recall(queries, left)
            joined = [join(a, b) for a, b in zip(joined, mine, strict=True)]
            used = max((count_tokens(self._tokenizer, r.context) for r in joined), default=0)
            left = max(0, budget_tokens - used - count_tokens(self._tokenizer, CONTEXT_SEPARATOR))
        return joined

    def footprint(self) -> Footprint:
        return summed([part.footprint() for part in self.parts], self._seconds)

    def installed(self) -> Mapping[str, Path]:
        return {name: folder for part in self.parts for name, folder in part.installed().items()}


def summed(prints: Sequence[Footprint], clocked: Sequence[float]) -> Footprint:
    """The parts' footprints added up. A part restored from cache (or that knows its cost) reports
    what building it cost; the others, what writing (or updating) them took now on the clock."""
    seconds = [fp.write_seconds if fp.write_seconds is not None else s for fp, s in zip(prints, clocked, strict=True)]
    peaks = [fp.write_peak_mb for fp in prints]
    return Footprint(
        trainable_params=sum(fp.trainable_params for fp in prints),
        storage_bytes=sum(fp.storage_bytes for fp in prints),
        index_vectors=sum(fp.index_vectors for fp in prints),
        write_tokens=sum(fp.write_tokens for fp in prints),
        write_flops=sum(fp.write_flops for fp in prints),
        write_seconds=sum(seconds),
        write_peak_mb=None if None in peaks else max(peaks),  # type: ignore[type-var]
        cached=any(fp.cached for fp in prints),
    )


def join(a: Recall, b: Recall) -> Recall:
    """Both parts' contexts (earlier part first) and adapters; the router's account kept."""
    context = CONTEXT_SEPARATOR.join(c for c in (a.context, b.context) if c)
    return dataclasses.replace(
        a,
        context=context,
        adapters=tuple(dict.fromkeys(a.adapters + b.adapters)),
        dropped=a.dropped + b.dropped,
        routing=a.routing or b.routing,
        on_disk=tuple(dict.fromkeys(a.on_disk + b.on_disk)),
    )
