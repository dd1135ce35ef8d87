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
