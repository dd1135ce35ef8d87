"""Internalization formats: parsing, templates, model-written data (cached with its provenance), LoRA on them."""

from __future__ import annotations

import json

import pytest

from baselines import make_memory
from bench.core.errors import UserError
from bench.core.memory import Corpus, Document
from bench.core.paths import cache_dir
from bench.model.adapters import unload_adapters
from bench.parts.synth import FormatPart, internalize, parse_format, parse_qa, question_of, template_items


def test_format_specs():
    assert parse_format("summary8+qa40") == (FormatPart("summary", 8), FormatPart("qa", 40))
    assert parse_format("raw+rewrite4+qa40")[0] == FormatPart("raw", 1)
    for bad in ("qa0", "raw2", "poem3", "qa4+qa8", ""):
        with pytest.raises(ValueError):
            parse_format(bad)
    with pytest.raises(UserError, match="format part 'poem3'"):
        make_memory("lora", {"format": "poem3"}, seed=0)


def test_templates_for_phonebook_and_statements(corpus):
    qa = template_items(corpus.documents[0], "qa", 5)
    assert qa[0] == corpus.documents[0].contents and qa[4] == qa[0] and len(set(qa)) == 4
    assert all(line.endswith("Answer: 212-555-0101") for line in qa)
    assert template_items(corpus.documents[0], "rewrite", 1) == ["You can reach Ada Stone at 212-555-0101."]
    fact = Document("cf0", "Lenta.ru is written in Italian")
    assert template_items(fact, "qa", 1) == ["Question: Lenta.ru is written in? Answer: Italian"]
    with pytest.raises(UserError, match="not a one-line fact"):
        template_items(Document("p", "A long page.\nWith two lines."), "summary", 1)


def test_parse_generated_qa():
    assert parse_qa(" Who wrote it?\nAnswer: Ada\nQuestion: more") == "Question: Who wrote it? Answer: Ada"
    assert parse_qa(" Who wrote it?") is None and parse_qa("Answer: x") is None
    assert question_of("What is X? It is.\n\nThe answer:") == "What is X?" and question_of("No question.") is None


def test_model_written_formats_are_seeded_cached_and_recorded(tiny_model, corpus):
    first = internalize(corpus, "summary2+rewrite1", "", tiny_model, seed=3)
    metas = [json.loads(p.read_text()) for p in sorted((cache_dir() / "synth").glob("*/meta.json"))]
    assert {m["kind"] for m in metas} == {"summary", "rewrite"}
    assert all(m["generator"] == tiny_model.source and "{doc}" in m["prompt"] for m in metas)
    again = internalize(corpus, "summary2+rewrite1", "", tiny_model, seed=3)
    assert again.documents == first.documents  # read back from the cache
    for folder in (cache_dir() / "synth").iterdir():  # regenerated from scratch: the same samples
        (folder / "meta.json").unlink()
    assert internalize(corpus, "summary2+rewrite1", "", tiny_model, seed=3).documents == first.documents
    assert internalize(corpus, "raw", "", tiny_model, seed=3) is corpus


def test_lora_trains_on_the_format(tiny_model, corpus):
    memory = make_memory("lora", {"epochs": 1, "rank": 2, "format": "raw+qa2", "generator": "template"}, seed=0)
    memory.write(corpus, tiny_model)
    assert memory._log["training_documents"] == 3 * len(corpus.documents)
    assert memory.footprint().write_seconds >= memory._log["seconds"]
    unload_adapters(tiny_model)
    raw = make_memory("lora", {"epochs": 1, "rank": 2}, seed=0)
    raw.write(Corpus("tiny", corpus.documents), tiny_model)
    assert raw.folder != memory.folder
    unload_adapters(tiny_model)


def test_template_rewrites_come_from_the_task_folders(tmp_path):
    """A folder's templates.yaml rewrites the facts its pattern matches; other one-line facts get
    the generic statement templates; a malformed file is one line naming it."""
    from bench.parts.synth import task_templates

    (tmp_path / "colours").mkdir()
    (tmp_path / "colours" / "templates.yaml").write_text(
        "pattern: '^(?P<thing>\\w+) is (?P<colour>\\w+)$'\nqa: ['Question: What colour is {thing}? Answer: {colour}']\n"
    )
    known = task_templates(tmp_path)
    assert (
        template_items(Document("a", "grass is green"), "qa", 2, known)
        == ["Question: What colour is grass? Answer: green"] * 2
    )
    assert template_items(Document("b", "Paris is the capital of France"), "qa", 1, known) == [
        "Question: Paris is the capital of? Answer: France"
    ]
    (tmp_path / "colours" / "templates.yaml").write_text("qa: ['x']\n")
    with pytest.raises(UserError, match=r"colours/templates\.yaml: a `pattern`"):
        task_templates(tmp_path)
