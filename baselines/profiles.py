"""Named protocols: the defaults a memory's config starts from before the user's own fields.

`kmbench` is this project's defaults (each config class's field defaults). `study` is the
protocol of "Understanding LoRA as Knowledge Memory" (arXiv 2603.01097) as far as it states
it: LoRA with alpha = rank, dropout 0.1, lr 5e-5, 1,500 steps at batch 8 and next-token loss on
the whole line; ICL with an instruction before the facts; RAG with 512-token chunks, top 3.
The study also wraps PhoneBook lines (not CounterFact's) in the chat template: that is a run
setting (`--chat-template`, or `chat_template: true` on a sweep entry), since the reader must
ask in the same template that training used.

A hybrid has no profile of its own: each part names its own
(`parts: [{memory: lora, profile: study}, {memory: rag, profile: study}]`).

A profile is resolved once, when the config is built; the config keeps its name in `profile`
and every value it produced, so a record reproduces without this table, and its label shows
only what differs from its own profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bench.core.config import DEFAULT_PROFILE
from bench.core.errors import UserError

# The study's ICL and RAG prompt (1_GRID_SEARCH/analysis/evaluate_baselines_fast_llama.py): this line,
# a blank line, "Context:", the context on the next line; KMBench's reader then puts a blank line
# and the question. CounterFact's prompt there opens with "Context:" alone (a preset field).
STUDY_INSTRUCTION = "Based on the context below, answer the question.\n\nContext:"

# Each value as the study's released code sets it (anonymous-icml-loramem/ICML2026-LoRA-As-Knowledge-Memory
# @ c053d8a): rank, alpha = rank, dropout 0.1, lr 5e-5, 1,500 steps at batch 8 from
# 1_GRID_SEARCH/scripts/generate_llama_grid_configs.py; AdamW at torch's default weight decay (0.01),
# CosineAnnealingLR to 0 without warmup, clipping at 1.0, the whole line in the user turn and every
# token but the pad id learned from 1_GRID_SEARCH/src/trainers/ntp_trainer.py.
_STUDY_LORA: dict[str, Any] = {
    "alpha": 0,
    "alpha_ratio": 1.0,
    "dropout": 0.1,
    "lr": 5e-5,
    "max_steps": 1500,
    "batch_size": 8,
    "schedule": "cosine",
    "warmup_ratio": 0.0,
    "weight_decay": 0.01,
    "grad_clip": 1.0,
    "loss_on": "all",
    "layout": "user",
}

PROFILES: Mapping[str, Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        DEFAULT_PROFILE: {},
        "study": {
            "lora": _STUDY_LORA,
            "multilora": {**_STUDY_LORA, "weighting": "study"},
            "icl": {"instruction": STUDY_INSTRUCTION, "joiner": ""},
            "rag": {
                "instruction": STUDY_INSTRUCTION,
                "joiner": "\n\n",
                "chunk_tokens": 512,
                "chunk_overlap": 0,
                "chunk_across": True,
                "top_k": 3,
            },
        },
    }
)


def profile_values(profile: Any, memory: str) -> dict[str, Any]:
    """The fields `profile` sets for `memory` (empty where it sets none), or a UserError naming the known ones."""
    if not isinstance(profile, str) or profile not in PROFILES:
        raise UserError(f"memory {memory}: unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    return dict(PROFILES[profile].get(memory, {}))


def check_profile(profile: str) -> None:
    """Validation for a config's `profile` field (raises ValueError, as `bench.core.config.check`)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
