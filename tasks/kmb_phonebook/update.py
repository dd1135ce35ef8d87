"""PhoneBook updates: the 2k book, then its next version, asked after the memory took the change.

A seeded quarter of the book's people get new numbers, a tenth leave and a tenth arrive (people
built from the study's first and last names, none of the study's own), so the new book has as
many lines as the old one. Changed lines keep their document id, so a memory can tell a rewrite
from an arrival. Every person of either version is asked, with an instruction that allows
"unknown" (a person who left is answered right by abstaining). The old book is the committed
`phonebook_2k_corpus.jsonl` itself, so its LoRA adapter is the `kmb_phonebook_2k` one.
Rebuild: `python -m tasks.kmb_phonebook.update`.
"""

from __future__ import annotations

import random

from bench.core.jsonl import write_jsonl
from tasks.kmb_phonebook.build import TASK_DIR, Entry, fresh_book, read_book

STEM = "phonebook_2k"
SEED = 3
CHANGED, LEAVING, ARRIVING = 0.25, 0.10, 0.10
TASK_YAML = """\
include: _phonebook_update_template.yaml
task: kmb_phonebook_2k_update
tag: [kmb_update]
metadata:
  version: 1
  qa: data/{stem}_update_qa.jsonl
  corpus: data/{stem}_update_corpus.jsonl
  previous_corpus: data/{stem}_corpus.jsonl
  update_of: kmb_phonebook_2k
  primary_metric: update_match
"""


def new_number(rng: random.Random, old: str) -> str:
    while (phone := f"{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}") == old:
        pass
    return phone


def next_version(book: list[Entry], seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """(the new book's documents, one question per person of either version)."""
    rng = random.Random(seed)
    n_changed, n_leaving = round(CHANGED * len(book)), round(LEAVING * len(book))
    picked = rng.sample(range(len(book)), n_changed + n_leaving)
    changed, leaving = set(picked[:n_changed]), set(picked[n_changed:])
    arrivals = fresh_book(round(ARRIVING * len(book)), seed, avoid=read_book())
    documents, questions = [], []
    for i, entry in enumerate(book):
        if i in leaving:
            questions.append(question(f"pb{i}", entry.name, "unknown", "removed", entry.phone))
            continue
        now = Entry(entry.name, new_number(rng, entry.phone)) if i in changed else entry
        documents.append({"id": f"pb{i}", "contents": now.fact})
        kind = "changed" if i in changed else "unchanged"
        questions.append(question(f"pb{i}", now.name, now.phone, kind, entry.phone if i in changed else ""))
    for j, entry in enumerate(arrivals):
        documents.append({"id": f"up{j}", "contents": entry.fact})
        questions.append(question(f"up{j}", entry.name, entry.phone, "added", ""))
    return documents, questions


def question(doc_id: str, name: str, answer: str, kind: str, old: str) -> dict:
    """`answer` is what the new book says ("unknown" for a person who left); `old` what the old one said."""
    return {"id": doc_id, "name": name, "answer": answer, "kind": kind, "old": old}


def write_update_task() -> None:
    from tasks.kmb_phonebook.probes import read_entries

    documents, questions = next_version(read_entries(STEM))
    write_jsonl(TASK_DIR / "data" / f"{STEM}_update_corpus.jsonl", documents)
    write_jsonl(TASK_DIR / "data" / f"{STEM}_update_qa.jsonl", questions)
    (TASK_DIR / "kmb_phonebook_2k_update.yaml").write_text(TASK_YAML.format(stem=STEM))


if __name__ == "__main__":
    write_update_task()
