"""PaperQA sham control: the study-framed questions on papers 0-2 over papers 3-5.

A memory written from other papers of the same kind (introductions, and with `study_qa40` the
study's 40 question-answer pairs of each of those papers) learns how answers are worded and
none of what these three papers say. ROUGE-L rewards wording: the closed book scores above zero,
and a LoRA trained on any QA pairs learns the answers' shape. A memory's gain over its sham is
what it knows about the papers asked. Rebuild: `python -m tasks.kmb_paperqa.sham`.
"""

from __future__ import annotations

from pathlib import Path

from bench.core.jsonl import read_jsonl_objects, write_jsonl

FOLDER = Path(__file__).resolve().parent
SHAM_PAPERS = ("paper3", "paper4", "paper5")  # the next three of the 15, as many as the small set
TASK_YAML = """\
include: _paperqa_study_template.yaml
task: kmb_paperqa_study_small_sham
tag: [kmb_sham]
metadata:
  version: 1
  qa: data/study_small_qa.jsonl
  corpus: data/study_small_sham_corpus.jsonl
  primary_metric: rougeL
  sham_of: kmb_paperqa_study_small
"""


def write_sham_task() -> None:
    papers = [row for _, row in read_jsonl_objects(FOLDER / "data" / "study_all_corpus.jsonl", "corpus")]
    write_jsonl(FOLDER / "data" / "study_small_sham_corpus.jsonl", (p for p in papers if p["id"] in SHAM_PAPERS))
    (FOLDER / "kmb_paperqa_study_small_sham.yaml").write_text(TASK_YAML)


if __name__ == "__main__":
    write_sham_task()
