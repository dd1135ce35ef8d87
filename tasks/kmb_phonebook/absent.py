"""PhoneBook absent facts: people the book does not list, asked as its people are.

A memory that knows the book should say it does not know these; one that learned only the
answer format makes a number up. The questions name people built from the book's own first and
last names (so a name alone gives nothing away) and checked against all 10,000 of the study's
rows, asked over the 1k book's corpus (the same cached LoRA adapter as kmb_phonebook_1k), with
an instruction that allows "unknown" before the verbatim question line.
Rebuild: `python -m tasks.kmb_phonebook.absent`.
"""

from __future__ import annotations

from bench.core.jsonl import write_jsonl
from tasks.kmb_phonebook.build import TASK_DIR, fresh_book, read_book

STEM = "phonebook_1k"
SEED = 1
QUESTIONS = 36  # as many as the book it is asked over
TASK_YAML = """\
include: _phonebook_absent_template.yaml
task: kmb_phonebook_1k_absent
tag: [kmb_absent]
metadata:
  version: 1
  qa: data/{stem}_absent_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  absent_of: kmb_phonebook_1k
  questions: {questions}
"""


def absent_names(n: int = QUESTIONS, seed: int = SEED) -> list[str]:
    """`n` names that no row of the study's book has."""
    return [entry.name for entry in fresh_book(n, seed, avoid=read_book())]


def write_absent_task() -> None:
    rows = ({"id": f"ab{i}", "name": name, "answer": "unknown"} for i, name in enumerate(absent_names()))
    write_jsonl(TASK_DIR / "data" / f"{STEM}_absent_qa.jsonl", rows)
    (TASK_DIR / "kmb_phonebook_1k_absent.yaml").write_text(TASK_YAML.format(stem=STEM, questions=QUESTIONS))


if __name__ == "__main__":
    write_absent_task()
