"""CounterFact controls over the 1k edits: a sham book of other edits, and subjects never edited.

- Sham (`kmb_counterfact_1k_sham`): the 1k edits' questions over the next 106 edits of the
  study's file (the 2k set's second half): the same format and kinds of objects, none of the
  answers. What a memory written from it scores, the format alone buys (objects repeat across
  edits: "French", "English", "Italy"...), so a memory's gain over it is knowledge.
- Absent (`kmb_counterfact_1k_absent`): 106 subjects no edit of the 2k set touches, asked over
  the 1k book (the 1k adapter serves) after an instruction that allows "unknown". Nothing in the
  memory is about them, so the model's own answer (`old`, what it says closed-book) is right;
  `edit_leak` counts answers that are one of the book's counterfactual objects instead.
Rebuild: `python -m tasks.kmb_counterfact.controls`.
"""

from __future__ import annotations

from pathlib import Path

from bench.core.jsonl import read_jsonl_objects, write_jsonl

DATA = Path(__file__).resolve().parent / "data"
EDITS = 106  # as many as the 1k book holds
SHAM_YAML = """\
include: _counterfact_template.yaml
task: kmb_counterfact_1k_sham
tag: [kmb_sham]
metadata:
  version: 1
  qa: data/1k_qa.jsonl
  corpus: data/1k_sham_corpus.jsonl
  sham_of: kmb_counterfact_1k
"""
ABSENT_YAML = """\
include: _counterfact_absent_template.yaml
task: kmb_counterfact_1k_absent
tag: [kmb_absent]
metadata:
  version: 1
  qa: data/1k_absent_qa.jsonl
  corpus: data/1k_corpus.jsonl
  absent_of: kmb_counterfact_1k
  report_metrics: [edit_leak, abstain]
"""


def rows(name: str) -> list[dict]:
    return [row for _, row in read_jsonl_objects(DATA / name, name)]


def write_controls() -> None:
    book = {row["id"] for row in rows("1k_qa.jsonl")}
    second = [row for row in rows("2k_corpus.jsonl") if row["id"] not in book][:EDITS]
    write_jsonl(DATA / "1k_sham_corpus.jsonl", second)
    touched = {row["id"] for row in rows("2k_qa.jsonl")}
    subjects = {row["subject"] for row in rows("2k_qa.jsonl")}
    absent = [r for r in rows("20k_qa.jsonl") if r["id"] not in touched and r["subject"] not in subjects][:EDITS]
    objects = sorted({row["new"] for row in rows("1k_qa.jsonl")})
    kept = ("id", "prompt", "old", "subject")  # no doc_id: no document of the book answers it
    write_jsonl(DATA / "1k_absent_qa.jsonl", ({**{k: r[k] for k in kept}, "book_objects": objects} for r in absent))
    folder = DATA.parent
    (folder / "kmb_counterfact_1k_sham.yaml").write_text(SHAM_YAML)
    (folder / "kmb_counterfact_1k_absent.yaml").write_text(ABSENT_YAML)


if __name__ == "__main__":
    write_controls()
