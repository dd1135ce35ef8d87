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

STUDY_INSTRUCTION = "Answer the question using the facts below."

_STUDY_LORA: dict[str, Any] = {
    "alpha": 0,
    "alpha_ratio": 1.0,
    "dropout": 0.1,
    "lr": 5e-5,
    "max_steps": 1500,
    "batch_size": 8,
    "schedule": "linear",
    "loss_on": "all",
}

PROFILES: Mapping[str, Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        DEFAULT_PROFILE: {},
        "study": {
            "lora": _STUDY_LORA,
            "multilora": {**_STUDY_LORA, "weighting": "study"},
            "icl": {"instruction": STUDY_INSTRUCTION},
            "rag": {"chunk_tokens": 512, "top_k": 3},
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
