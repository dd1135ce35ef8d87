"""Sham and absent-fact controls beyond PhoneBook: CounterFact's and PaperQA's."""

from __future__ import annotations

from conftest import task_utils

from bench.harness.taskspec import task_manager, task_spec


def test_counterfact_sham_asks_the_1k_questions_over_other_edits():
    manager = task_manager()
    sham, real = task_spec(manager, "kmb_counterfact_1k_sham"), task_spec(manager, "kmb_counterfact_1k")
    assert sham.sham_of == "kmb_counterfact_1k" and sham.primary_metric == real.primary_metric
    ours, theirs = sham.corpus().documents, real.corpus().documents
    assert len(ours) == len(theirs) and not {d.id for d in ours} & {d.id for d in theirs}
    assert not {d.contents for d in theirs} & {d.contents for d in ours}


def test_counterfact_absent_subjects_are_in_no_edit_and_leaks_are_counted():
    from bench.core.jsonl import read_jsonl_objects
    from bench.core.paths import TASKS_DIR

    data = TASKS_DIR / "kmb_counterfact" / "data"
    spec = task_spec(task_manager(), "kmb_counterfact_1k_absent")
    assert spec.corpus().sha256 == task_spec(task_manager(), "kmb_counterfact_1k").corpus().sha256
    edited = {row["subject"] for _, row in read_jsonl_objects(data / "2k_qa.jsonl", "qa")}
    asked = [row for _, row in read_jsonl_objects(data / "1k_absent_qa.jsonl", "qa")]
    assert len(asked) == 106 and not edited & {row["subject"] for row in asked}
    utils = task_utils("kmb_counterfact")
    doc = {"old": "London", "book_objects": ["Paris", "London"]}
    assert utils.process_absent(doc, [" London, England"]) == {"keeps_own": 1.0, "edit_leak": 0.0, "abstain": 0.0}
    assert utils.process_absent(doc, [" Paris"]) == {"keeps_own": 0.0, "edit_leak": 1.0, "abstain": 0.0}
    assert utils.process_absent(doc, [" unknown"]) == {"keeps_own": 0.0, "edit_leak": 0.0, "abstain": 1.0}


def test_paperqa_sham_asks_papers_0_to_2_over_three_other_papers():
    manager = task_manager()
    sham, real = task_spec(manager, "kmb_paperqa_study_small_sham"), task_spec(manager, "kmb_paperqa_study_small")
    assert sham.sham_of == real.name and sham.primary_metric == "rougeL"
    assert [d.id for d in sham.corpus().documents] == ["paper3", "paper4", "paper5"]
    assert not {d.id for d in sham.corpus().documents} & {d.id for d in real.corpus().documents}


def test_the_shuffled_book_gives_every_person_another_persons_number():
    from bench.core.jsonl import read_jsonl_objects
    from bench.core.paths import TASKS_DIR

    spec = task_spec(task_manager(), "kmb_phonebook_1k_shuffled")
    assert spec.sham_of == "kmb_phonebook_1k" and spec.primary_metric == "exact_match"
    rows = [
        row
        for _, row in read_jsonl_objects(TASKS_DIR / "kmb_phonebook" / "data" / "phonebook_1k_shuffled_qa.jsonl", "qa")
    ]
    assert all(row["given"] != row["answer"] for row in rows)
    assert sorted(row["given"] for row in rows) == sorted(row["answer"] for row in rows)
    assert [d.contents.endswith(row["given"]) for d, row in zip(spec.corpus().documents, rows, strict=True)] == [
        True
    ] * 36
    utils = task_utils("kmb_phonebook")
    doc = {"answer": "111-111-1111", "given": "222-222-2222"}
    assert utils.process_shuffled(doc, [" 222-222-2222"]) == {"exact_match": 0.0, "copied": 1.0}
    assert utils.process_shuffled(doc, [" 111-111-1111"]) == {"exact_match": 1.0, "copied": 0.0}


def test_a_task_names_the_metrics_its_table_shows():
    from bench.core.paths import PROJECT_ROOT
    from bench.report.tables import load_table, markdown_table

    assert task_spec(task_manager(), "kmb_counterfact_1k_absent").report_metrics == ("edit_leak", "abstain")
    text = markdown_table(load_table(PROJECT_ROOT / "leaderboard" / "reference" / "controls"))
    section = text.split("### kmb_counterfact_1k_absent")[1].split("###")[0]
    assert "| keeps_own % ↑ | edit_leak % ↓ | abstain % ↑ |" in section


def test_paperqa_absent_asks_only_about_papers_the_memory_does_not_hold():
    from bench.core.jsonl import read_jsonl_objects
    from bench.core.paths import TASKS_DIR

    spec = task_spec(task_manager(), "kmb_paperqa_study_small_absent")
    assert spec.corpus().sha256 == task_spec(task_manager(), "kmb_paperqa_study_small").corpus().sha256
    held = {d.id.removeprefix("paper") for d in spec.corpus().documents}
    rows = [
        row for _, row in read_jsonl_objects(TASKS_DIR / "kmb_paperqa" / "data" / "study_small_absent_qa.jsonl", "qa")
    ]
    assert len(rows) == 90 and all("doc_id" not in row for row in rows)
    assert {row["question"].split(",")[0].removeprefix("In the Paper ID ") for row in rows}.isdisjoint(held)
    utils = task_utils("kmb_paperqa")
    assert utils.process_absent({}, [" Unknown."]) == {"abstain": 1.0, "made_up": 0.0}
    assert utils.process_absent({}, [" It introduces a planner."]) == {"abstain": 0.0, "made_up": 1.0}
    assert utils.process_absent({}, [""]) == {"abstain": 0.0, "made_up": 0.0}
