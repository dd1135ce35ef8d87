"""The adapters loaded on a model: load once, switch per query group, remove after a run.

peft owns the adapter math; this module only keeps the one PeftModel per LoadedModel and
decides which adapters are active. The base model's weights are never modified.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.core.memory import LoadedModel, Recall


def load_adapter(lm: LoadedModel, name: str, folder: Path) -> None:
    """Load a saved peft adapter under `name` (replacing one of the same name)."""
    from peft import PeftModel

    if lm.peft is None:
        lm.peft = PeftModel.from_pretrained(lm.model, str(folder), adapter_name=name, is_trainable=False)
        lm.peft.eval()
        return
    if name in lm.peft.peft_config:
        lm.peft.delete_adapter(name)
    lm.peft.load_adapter(str(folder), adapter_name=name, is_trainable=False)


# peft's `add_weighted_adapter` combination types; "sum" switches the adapters on together instead,
# which adds their full updates without building a new adapter.
MERGES = (
    "sum",
    "linear",
    "cat",
    "cat_rsqrt",  # CAT with every module scaled by 1/sqrt(N): the study's CAT-1/sqrt(N) (its App. O)
    "svd",
    "ties",
    "ties_svd",
    "dare_linear",
    "dare_ties",
    "dare_linear_svd",
    "dare_ties_svd",
    "magnitude_prune",
    "magnitude_prune_svd",
)
NEEDS_DENSITY = ("ties", "dare", "magnitude_prune")


def merge_adapters(
    lm: LoadedModel, names: tuple[str, ...], method: str, weights: tuple[float, ...], density: float
) -> tuple[str, ...]:
    """The adapters to switch on for this combination: one merged adapter or, for "sum" and a
    single adapter, the inputs themselves. A merged adapter is keyed by its set of modules with
    their weights (in name order, whatever order a router chose them in) and its density, so each
    combination is built once and two weightings of one set never share a name."""
    if method == "sum" or len(names) == 1:
        return names
    pairs = sorted(zip(names, weights, strict=True))
    names, weights = tuple(n for n, _ in pairs), tuple(w for _, w in pairs)
    digest = hashlib.sha256(repr((weights, density)).encode()).hexdigest()[:8]
    merged = "-".join((method, *names, digest))
    if method == "cat_rsqrt":
        method, weights = "cat", tuple(w / math.sqrt(len(names)) for w in weights)
    if merged not in lm.peft.peft_config:
        lm.peft.add_weighted_adapter(
            list(names),
            list(weights),
            merged,
            combination_type=method,
            density=density if any(k in method for k in NEEDS_DENSITY) else None,
        )
    return (merged,)


def loaded_adapters(lm: LoadedModel) -> list[str]:
    """Names peft holds on this model, so a recall of an adapter never loaded fails loudly."""
    return list(lm.peft.peft_config) if lm.peft is not None else []


def unload_adapters(lm: LoadedModel) -> None:
    """Take every LoRA layer out again, so the next memory starts from the bare model."""
    if lm.peft is not None:
        lm.peft.unload()
        lm.peft = None


@contextmanager
def bare_model(lm: LoadedModel) -> Iterator[LoadedModel]:
    """The model with no adapter on, for a block that may install some: whatever it installed
    (or left behind on an error) is taken out when it ends. The one lifetime of every adapter:
    no module outside this one unloads them."""
    unload_adapters(lm)
    try:
        yield lm
    finally:
        unload_adapters(lm)


@contextmanager
def adapters_active(lm: LoadedModel, recall: Recall) -> Iterator[Any]:
    """Yield the module to generate with: the base model, or the PeftModel with exactly these
    adapters on. Adapters the recall keeps on disk are read now and dropped when the block ends."""
    for name, folder in recall.on_disk:
        load_adapter(lm, name, folder)
    try:
        yield from _with_active(lm, recall)
    finally:
        _drop(lm, [name for name, _ in recall.on_disk])


def _with_active(lm: LoadedModel, recall: Recall) -> Iterator[Any]:
    if not recall.adapters:
        if lm.peft is None:
            yield lm.model
        else:
            with lm.peft.disable_adapter():
                yield lm.peft
        return
    missing = [a for a in recall.adapters if a not in loaded_adapters(lm)]
    if missing:
        raise RuntimeError(f"adapters {missing} were recalled but never loaded")
    lm.peft.base_model.set_adapter(list(recall.adapters))
    yield lm.peft


def _drop(lm: LoadedModel, names: list[str]) -> None:
    """Delete these adapters; when they were all the model held, take peft out entirely (the bare model)."""
    if not names or lm.peft is None:
        return
    if set(loaded_adapters(lm)) <= set(names):
        unload_adapters(lm)
        return
    for name in names:
        lm.peft.delete_adapter(name)
