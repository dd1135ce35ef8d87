"""LoRA training as the `lora` memory does it, but uncached: measurements must time the training.

`LoRAMemory.write` goes through the adapter cache, so a second run would time a file read. This
calls the same three steps (`internalize`, `make_examples`, `train_adapter`) into a folder the
caller owns. It lives in the run layer because only the run layer may import `baselines/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from baselines.lora import (
    TEACHER_CACHE_BYTES,
    LoRAConfig,
    StepHook,
    adapter_footprint,
    make_examples,
    train_adapter,
)
from bench.core.memory import Corpus, LoadedModel
from bench.model.adapters import bare_model
from bench.parts.synth import internalize
from bench.run.memories import make_memory

__all__ = ["StepHook", "lora_config", "train_lora", "training_flops"]


def lora_config(fields: Mapping[str, Any], seed: int) -> LoRAConfig:
    """The `lora` memory's config with these fields (its defaults elsewhere); bad fields are a UserError."""
    return make_memory("lora", dict(fields), seed).config


def train_lora(
    lm: LoadedModel,
    corpus: Corpus,
    fields: Mapping[str, Any],
    seed: int,
    folder: Path,
    on_step: StepHook | None = None,
    teacher_cache_bytes: float = TEACHER_CACHE_BYTES,
) -> dict[str, Any]:
    """Train a `lora` adapter with these config fields into `folder`; its training log
    (`on_step`, `teacher_cache_bytes`: see `baselines.lora.train_adapter`)."""
    cfg = lora_config(fields, seed)
    with bare_model(lm):  # train on the bare model, as a run does
        training = internalize(corpus, cfg.format, cfg.generator, lm, cfg.seed)
        examples = make_examples(training, lm, cfg, source=corpus)
        return train_adapter(lm, examples, cfg, folder, on_step, teacher_cache_bytes=teacher_cache_bytes)


def training_flops(log: Mapping[str, Any], n_params: int) -> float:
    """Model FLOPs of a training log, by the formula the records use (`adapter_footprint`)."""
    return adapter_footprint([dict(log)], [], n_params, cached=False).write_flops
