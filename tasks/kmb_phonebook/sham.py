"""PhoneBook sham controls: the 1k book's questions over another book of the same size and format,
and over the 1k book itself with its numbers shuffled among its people.

A memory written from the sham book holds no answer to these questions, only their format
(lines "Question: What is the phone number of X? Answer: NNN-NNN-NNNN" about other people). Its
score is what the format alone buys; a memory's gain over its sham is its knowledge. The sham
book is seeded and built from the study's first and last names, none of its people in the study's
book.

The shuffled book pairs every name with another person's number (a derangement, seeded): the
documents a retriever finds for a question are the right ones, with the wrong answer in them.
`copied` counts answers that repeat the number the memory was given for that name, so it tells
a memory that reads what it holds from one that knows the answer some other way.
Rebuild: `python -m tasks.kmb_phonebook.sham`.
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


SHUFFLED_YAML = """\
include: _phonebook_shuffled_template.yaml
task: kmb_phonebook_1k_shuffled
tag: [kmb_sham]
metadata:
  version: 1
  qa: data/{stem}_shuffled_qa.jsonl
  corpus: data/{stem}_shuffled_corpus.jsonl
  sham_of: kmb_phonebook_1k
  report_metrics: [copied]
"""


def derangement(n: int, seed: int) -> list[int]:
    """A seeded permutation that moves every index."""
    import random

    rng = random.Random(seed)
    while True:
        order = list(range(n))
        rng.shuffle(order)
        if all(i != j for i, j in enumerate(order)):
            return order


def write_shuffled_task() -> None:
    from tasks.kmb_phonebook.build import Entry
    from tasks.kmb_phonebook.probes import read_entries

    book = read_entries(STEM)
    pairs = [(e, book[j].phone) for e, j in zip(book, derangement(len(book), SEED), strict=True)]
    rows = [{"id": f"pb{i}", "name": e.name, "answer": e.phone, "given": given} for i, (e, given) in enumerate(pairs)]
    write_jsonl(TASK_DIR / "data" / f"{STEM}_shuffled_qa.jsonl", rows)
    corpus = ({"id": f"pb{i}", "contents": Entry(e.name, given).fact} for i, (e, given) in enumerate(pairs))
    write_jsonl(TASK_DIR / "data" / f"{STEM}_shuffled_corpus.jsonl", corpus)
    (TASK_DIR / "kmb_phonebook_1k_shuffled.yaml").write_text(SHUFFLED_YAML.format(stem=STEM))


if __name__ == "__main__":
    write_sham_task()
    write_shuffled_task()
