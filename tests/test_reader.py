"""The reader: prefix caching must not change answers; stop strings count once the answer began."""

from __future__ import annotations

from conftest import FACTS, fact_line

import bench.reader as reader_module
from bench.memory import Recall
from bench.reader import Reader, cut_at_stop, shared_prefix_length


def test_shared_prefix_leaves_each_row_a_token():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix_length([[1, 2], [1, 2]]) == 1


def test_cut_at_stop_skips_leading_blank_lines():
    assert cut_at_stop("\n\n 555-0101\nQuestion: x", ["\n", "Question:"]) == "555-0101"
    assert cut_at_stop("no stop here", ["\n"]) == "no stop here"


def test_prefix_cache_gives_the_same_answers(tiny_model, monkeypatch):
    context = "\n".join(fact_line(n, p) for n, p in FACTS)
    prompts = [f"Question: What is the phone number of {n}? Answer:" for n, _ in FACTS]
    recalls = [Recall(context=context)] * len(prompts)
    cached = Reader(tiny_model, batch_size=4).generate(prompts, recalls, 200, ["\n"], 6)
    assert cached[0].context_tokens >= reader_module.MIN_SHARED_PREFIX  # the cached path really ran
    monkeypatch.setattr(reader_module, "MIN_SHARED_PREFIX", 10**9)
    plain = Reader(tiny_model, batch_size=4).generate(prompts, recalls, 200, ["\n"], 6)
    assert [a.text for a in cached] == [a.text for a in plain]
    assert [a.prompt_tokens for a in cached] == [a.prompt_tokens for a in plain]
    monkeypatch.setattr(reader_module, "PREFIX_COPIES_BYTES", 1)  # one row per batch: still the same
    monkeypatch.setattr(reader_module, "MIN_SHARED_PREFIX", 64)
    single = Reader(tiny_model, batch_size=4).generate(prompts, recalls, 200, ["\n"], 6)
    assert [a.text for a in single] == [a.text for a in plain]
