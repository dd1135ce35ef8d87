"""PhoneBook sham control: the 1k book's questions over another book of the same size and format.

A memory written from the sham book holds no answer to these questions, only their format
(lines "Question: What is the phone number of X? Answer: NNN-NNN-NNNN" about other people). Its
score is what the format alone buys; a memory's gain over its sham is its knowledge. The sham
book is seeded and built from the study's first and last names, none of its people in the study's
book. Rebuild: `python -m tasks.kmb_phonebook.sham`.
"""

from __future__ import annotations

from bench.core.jsonl import write_jsonl
from tasks.kmb_phonebook.build import TASK_DIR, fresh_book, read_book

STEM = "phonebook_1k"
SEED = 2
TASK_YAML = """\
include: _phonebook_template.yaml
task: kmb_phonebook_1k_sham
tag: [kmb_sham]
metadata:
  version: 1
  qa: data/{stem}_qa.jsonl
  corpus: data/{stem}_sham_corpus.jsonl
  sham_of: kmb_phonebook_1k
  facts: {facts}
"""


def write_sham_task() -> None:
    from tasks.kmb_phonebook.probes import read_entries

    facts = len(read_entries(STEM))
    book = fresh_book(facts, SEED, avoid=read_book())
    rows = ({"id": f"sham{i}", "contents": entry.fact} for i, entry in enumerate(book))
    write_jsonl(TASK_DIR / "data" / f"{STEM}_sham_corpus.jsonl", rows)
    (TASK_DIR / "kmb_phonebook_1k_sham.yaml").write_text(TASK_YAML.format(stem=STEM, facts=facts))


if __name__ == "__main__":
    write_sham_task()
