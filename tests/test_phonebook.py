from __future__ import annotations

import pytest

from bench.core.errors import UserError
from bench.harness.taskspec import expand_tasks, task_manager, task_spec
from tasks.kmb_phonebook.build import fresh_book, prefix_for_tokens, read_book, write_fresh_task


def test_fresh_books_are_seeded_and_new():
    paper = {e.name for e in read_book()}
    first, again, other = fresh_book(50, seed=1), fresh_book(50, seed=1), fresh_book(50, seed=2)
    assert first == again and first != other
    assert len({e.name for e in first}) == 50 and not paper & {e.name for e in first}
    assert all(len(e.phone) == 12 and e.phone[3] == e.phone[7] == "-" for e in first)
    with pytest.raises(UserError):
        fresh_book(0, seed=1)


def test_prefix_stops_before_the_budget():
    book = read_book()[:10]
    kept = prefix_for_tokens(book, 100, lambda text: len(text.split()))
    used = sum(len((e.fact + "\n").split()) for e in kept)
    assert used <= 100 < used + len((book[len(kept)].fact + "\n").split())


def test_fresh_task_folder_is_an_lm_eval_task(tmp_path):
    name = write_fresh_task(tmp_path / "book", n_facts=5, seed=3)
    manager = task_manager([tmp_path / "book"])
    assert name in expand_tasks(manager, [name])
    assert len(task_spec(manager, name).corpus().documents) == 5


def test_kmbench_phonebook_writes_a_task_from_any_directory(tmp_path, monkeypatch, capsys):
    """The CLI loads the builder from its task folder by path, not through `import tasks`."""
    from bench.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["phonebook", str(tmp_path / "book"), "--facts", "4", "--seed", "1"]) == 0
    assert "kmb_phonebook_fresh_n4_s1" in capsys.readouterr().out
    assert (tmp_path / "book" / "kmb_phonebook_fresh_n4_s1.yaml").is_file()


def test_study_sized_tasks_ask_the_studys_rows():
    """The study's own sizes (its tokenizer's): 48 facts at 1K, 774 at 16K, 3,101 at 64K."""
    from lm_eval.tasks import get_task_dict

    manager = task_manager()
    names = expand_tasks(manager, ["kmb_phonebook_study"])
    assert len(names) == 22 and names[0] == "kmb_phonebook_study_1k" and names[-1] == "kmb_phonebook_study_128k"
    for name, rows in (("kmb_phonebook_study_1k", 48), ("kmb_phonebook_study_16k", 774)):
        spec = task_spec(manager, name)
        docs = list(get_task_dict([name], manager)[name].test_docs())
        assert len(docs) == len(spec.corpus().documents) == rows
        assert spec.primary_metric == "study_match"
        book = read_book()[:rows]  # the first rows of the study's book, in order
        assert [(d["name"], d["answer"]) for d in docs] == [(e.name, e.phone) for e in book]
    assert len(task_spec(manager, "kmb_phonebook_study_64k").corpus().documents) == 3101


def test_study_match_takes_the_first_number_anywhere_in_the_answer():
    from conftest import task_utils

    utils = task_utils("kmb_phonebook")
    doc = {"answer": "603-556-7631"}
    chatty = "Sure! Jeffrey Buck can be reached at 603-556-7631, call any time."
    assert utils.process_study(doc, [chatty]) == {"study_match": 1.0, "exact_match": 0.0, "digits_match": 1.0}
    assert utils.process_study(doc, ["\n603-556-7631"])["study_match"] == 1.0  # the strict line is empty
    assert utils.process_study(doc, ["705-882-9365 or 603-556-7631"])["study_match"] == 0.0  # the first one counts
    # no dashed span: the study's evaluator falls back on the first line's digits
    assert utils.process_study(doc, ["603 556 7631"])["study_match"] == 1.0
    assert utils.process_study(doc, ["Answer: (603) 556 7631\nor not"])["study_match"] == 1.0
    assert utils.process_study(doc, ["I don't know.\n603 556 7631"])["study_match"] == 0.0  # the first line only
    assert utils.process_study(doc, [""])["study_match"] == 0.0


def test_the_128k_book_has_the_studys_16_sectors():
    import json

    from tasks.kmb_phonebook.study import SECTORS

    sectors = json.loads(SECTORS.read_text())
    assert len(sectors) == 6202 and sorted(set(sectors.values())) == list(range(16))
    assert sectors["pb0"] == 0 and sectors["pb386"] == 0 and sectors["pb387"] == 1 and sectors["pb6201"] == 15


def test_absent_people_are_in_no_book_and_a_number_for_them_is_made_up():
    from conftest import task_utils

    from tasks.kmb_phonebook.absent import absent_names

    utils = task_utils("kmb_phonebook")
    names = absent_names()
    assert len(set(names)) == len(names) == 36 and not set(names) & {e.name for e in read_book()}
    doc = {"name": names[0], "answer": "unknown"}
    assert utils.process_absent(doc, ["Unknown."]) == {"abstain": 1.0, "made_up": 0.0}
    assert utils.process_absent(doc, [" I don't know their number"]) == {"abstain": 1.0, "made_up": 0.0}
    assert utils.process_absent(doc, [" 603-556-7631"]) == {"abstain": 0.0, "made_up": 1.0}
    assert utils.process_absent(doc, [" Sorry, no idea\n603-556-7631"]) == {"abstain": 0.0, "made_up": 0.0}  # line 1
