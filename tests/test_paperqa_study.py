"""PaperQA as the study runs it: Paper-ID framing of questions and corpus, answers up to 256
tokens, and the study's own 40 training pairs per paper as the `study_qaN` format."""

from __future__ import annotations

import re

import pytest

from bench.core.errors import UserError
from bench.core.memory import Corpus, Document
from bench.core.paths import TASKS_DIR
from bench.harness.taskdata import jsonl_dataset
from bench.harness.taskspec import expand_tasks, task_manager, task_spec
from bench.parts.modules import Window
from bench.parts.studyqa import study_documents, study_pairs
from bench.parts.synth import internalize, parse_format

DATA = TASKS_DIR / "kmb_paperqa" / "data"


def test_the_study_tasks_are_listed_beside_the_original_ones():
    manager = task_manager()
    assert expand_tasks(manager, ["kmb_paperqa_study"]) == ["kmb_paperqa_study_small"]
    assert expand_tasks(manager, ["kmb_paperqa_study_full"]) == ["kmb_paperqa_study_all"]
    assert expand_tasks(manager, ["kmb_longdoc"]) == ["kmb_paperqa_longdoc"]
    assert expand_tasks(manager, ["kmb_paperqa"]) == ["kmb_paperqa_small"]  # the original tag is unchanged
    for name, papers, questions in [("kmb_paperqa_study_small", 3, 90), ("kmb_paperqa_study_all", 15, 450)]:
        spec = task_spec(manager, name)
        assert spec.version == "1" and spec.judged and spec.primary_metric == "rougeL"
        assert len(spec.corpus().documents) == papers
        assert (
            len(jsonl_dataset(f"data/{name.removeprefix('kmb_paperqa_')}_qa.jsonl", DATA.parent)["test"]) == questions
        )


@pytest.mark.parametrize("stem", ["study_small", "study_all"])
def test_questions_and_introductions_carry_their_paper_id(stem):
    framed = jsonl_dataset(f"data/{stem}_qa.jsonl", DATA.parent)["test"]
    plain = jsonl_dataset(f"data/{stem.removeprefix('study_')}_qa.jsonl", DATA.parent)["test"]
    assert len(framed) == len(plain)
    for study, original in zip(framed, plain, strict=True):
        number = int(study["doc_id"].removeprefix("paper"))
        assert study["question"] == f"In the Paper ID {number}, {original['question']}"  # the study's own words
        assert {k: v for k, v in study.items() if k != "question"} == {
            k: v for k, v in original.items() if k != "question"
        }
    corpus = Corpus.from_jsonl(DATA / f"{stem}_corpus.jsonl")
    originals = Corpus.from_jsonl(DATA / f"{stem.removeprefix('study_')}_corpus.jsonl")
    for doc, original in zip(corpus.documents, originals.documents, strict=True):
        _title, _, introduction = original.contents.partition("\n\n")  # the original opens with the title
        assert (
            doc.id == original.id
            and doc.contents == f"This paper {doc.id.removeprefix('paper')} discusses:\n\n{introduction}"
        )


def test_answers_may_run_to_256_tokens():
    manager = task_manager()
    original = manager.load_task_or_group(["kmb_paperqa_small"])["kmb_paperqa_small"]
    study = manager.load_task_or_group(["kmb_paperqa_study_small", "kmb_paperqa_longdoc"])
    assert original.config.generation_kwargs["max_gen_toks"] == 64
    for task in study.values():
        kwargs = task.config.generation_kwargs
        assert kwargs["max_gen_toks"] == 256 and kwargs["until"] == ["\n\n", "Question:", "<|im_end|>"]
        assert task.config.doc_to_text == original.config.doc_to_text


def test_the_study_pairs_are_40_per_paper_framed_and_none_a_test_question():
    pairs = study_pairs()
    assert sorted(pairs, key=lambda d: int(d[5:])) == [f"paper{i}" for i in range(15)]
    tests = {q["question"] for q in jsonl_dataset("data/study_all_qa.jsonl", DATA.parent)["test"]}
    for doc_id, rows in pairs.items():
        assert len(rows) == 40
        assert all(re.match(rf"In the Paper ID {doc_id[5:]}, ", q) and q not in tests and a for q, a in rows)


def test_study_qa_is_a_format_of_the_shipped_pairs(tiny_model):
    assert [(p.kind, p.count) for p in parse_format("raw+study_qa40")] == [("raw", 1), ("study_qa", 40)]
    with pytest.raises(ValueError, match="40 pairs per paper"):
        parse_format("study_qa41")
    corpus = task_spec(task_manager(), "kmb_paperqa_study_small").corpus()
    training = internalize(corpus, "study_qa40", "", tiny_model, seed=0)
    assert len(training.documents) == 120 and training.documents[40].id == "paper1/study_qa0"
    first = training.documents[0].contents
    question, answer = study_pairs()["paper0"][0]
    assert first == f"Question: {question}\nAnswer: {answer}"  # the reader's prompt, then the answer
    mixed = internalize(corpus, "raw+study_qa10", "", tiny_model, seed=0)
    assert mixed.documents[:3] == corpus.documents and len(mixed.documents) == 3 + 30


def test_study_qa_follows_the_papers_a_window_holds_and_refuses_other_corpora():
    window = Window("w", (Document("window0", "text"),), holds=("paper2", "paper3"))
    assert [d.id for d in study_documents(window, 2)] == [
        "paper2/study_qa0",
        "paper2/study_qa1",
        "paper3/study_qa0",
        "paper3/study_qa1",
    ]
    with pytest.raises(UserError, match="no PaperQA paper"):
        study_documents(Corpus("c", (Document("d0", "a fact"),)), 40)
    with pytest.raises(UserError, match="no training documents"):
        internalize(Window("w", (Document("window1", "text"),), holds=()), "study_qa40", "", None, seed=0)  # type: ignore[arg-type]
