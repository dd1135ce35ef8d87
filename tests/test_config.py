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
        ("lora", {"schedule": "linear"}, "schedule"),
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
