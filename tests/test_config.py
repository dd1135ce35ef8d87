from __future__ import annotations

import re

import pytest

from baselines import make_memory, memory_label
from bench.core.errors import UserError


def test_strings_from_the_command_line_take_the_field_type():
    memory = make_memory("lora", {"rank": "8", "lr": "5e-4", "target_modules": "q_proj,v_proj"}, seed=1)
    assert memory.config.rank == 8 and memory.config.lr == 5e-4
    assert memory.config.target_modules == ("q_proj", "v_proj")
    assert memory.config.seed == 1


def test_label_names_only_changed_fields():
    assert memory_label(make_memory("lora", {}, seed=5)) == "lora"
    assert memory_label(make_memory("rag", {"top_k": "3"}, seed=0)) == "rag(top_k=3)"


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("lora", {"rnak": 8}, "unknown field(s) rnak"),
        ("lora", {"rank": 0}, "rank must be positive"),
        ("lora", {"rank": "eight"}, "cannot read 'eight' as int"),
        ("rag", {"chunk_overlap": 500}, "chunk_overlap"),
        ("lora", {"schedule": "step"}, "schedule"),
        ("lora", {"profile": "paper"}, "unknown profile 'paper'; known: kmbench, study"),
        ("none", {"profile": "study"}, "unknown field(s) profile"),
        ("nope", {}, "unknown memory 'nope'"),
    ],
)
def test_bad_configs_are_user_errors(name, values, message):
    with pytest.raises(UserError, match=re.escape(message)):
        make_memory(name, values, seed=0)


def test_configs_are_frozen():
    memory = make_memory("rag", {}, seed=0)
    with pytest.raises(AttributeError):
        memory.config.top_k = 9


def test_a_profile_gives_defaults_the_user_can_override_and_names_itself():
    memory = make_memory("lora", {"profile": "study", "rank": 8}, seed=0)
    cfg = memory.config
    assert (cfg.profile, cfg.dropout, cfg.lr, cfg.max_steps, cfg.batch_size, cfg.loss_on) == (
        "study",
        0.1,
        5e-5,
        1500,
        8,
        "all",
    )
    assert memory_label(memory) == "lora@study(rank=8)"  # the label shows what differs from its profile
    assert memory_label(make_memory("lora", {"profile": "study", "lr": 1e-4}, seed=0)) == "lora@study(lr=0.0001)"
    assert memory_label(make_memory("rag", {"profile": "study"}, seed=0)) == "rag@study"
    assert make_memory("rag", {"profile": "study"}, seed=0).config.top_k == 3
    assert memory_label(make_memory("lora", {}, seed=0)) == "lora"  # the default profile is not shown


def test_the_study_ties_alpha_to_rank():
    from baselines.lora import lora_alpha

    for rank in (2, 64, 1024):
        assert lora_alpha(make_memory("lora", {"profile": "study", "rank": rank}, seed=0).config) == rank
        assert lora_alpha(make_memory("lora", {"rank": rank}, seed=0).config) == 2 * rank  # kmbench: 2 x rank
    assert lora_alpha(make_memory("lora", {"profile": "study", "rank": 8, "alpha": 3}, seed=0).config) == 3


def test_records_made_before_profiles_keep_their_label_and_behaviour():
    """An old record's config has no profile, alpha_ratio or instruction: it builds as it ran."""
    from baselines.lora import lora_alpha
    from bench.core.config import profile_of

    old = {"rank": 8, "alpha": 0, "lr": 0.001, "seed": 0}
    memory = make_memory("lora", old, seed=0)
    assert lora_alpha(memory.config) == 16 and profile_of(old) == "kmbench"
    assert memory_label(memory) == "lora(rank=8)"


def test_linear_schedule_decays_to_zero_after_warmup():
    from baselines.lora import lr_factor

    cfg = make_memory("lora", {"schedule": "linear", "warmup_ratio": 0.1}, seed=0).config
    factors = [lr_factor(step, 100, cfg) for step in range(100)]
    assert factors[0] == 0.1 and factors[9] == 1.0 and factors[10] == 1.0
    assert factors[55] == 0.5 and factors[99] == 1 - 89 / 90
