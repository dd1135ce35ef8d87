"""PaperQA absent facts: study-framed questions on papers 3-5 ("In the Paper ID 3, ...") asked
over the study's small set, papers 0-2 (each framed "This paper 0 discusses", so no question is
about a paper the memory holds under another number).

The memory holds nothing about these papers (the `kmb_paperqa_study_small` adapter and index serve),
so the right answer is "unknown", which the instruction before each question allows; any other
non-empty answer is made up. Rebuild: `python -m tasks.kmb_paperqa.absent`.
"""

from __future__ import annotations

from pathlib import Path

from bench.core.jsonl import read_jsonl_objects, write_jsonl

FOLDER = Path(__file__).resolve().parent
ABSENT_PAPERS = ("paper3", "paper4", "paper5")  # none of them in the small set
KEPT = ("id", "question", "level")  # no answer and no doc_id: the memory holds neither
TASK_YAML = """\
include: _paperqa_absent_template.yaml
task: kmb_paperqa_study_small_absent
tag: [kmb_absent]
metadata:
  version: 1
  qa: data/study_small_absent_qa.jsonl
  corpus: data/study_small_corpus.jsonl
  absent_of: kmb_paperqa_study_small
"""


def write_absent_task() -> None:
    rows = [row for _, row in read_jsonl_objects(FOLDER / "data" / "study_all_qa.jsonl", "qa")]
    asked = ({**{k: r[k] for k in KEPT}, "answer": "unknown"} for r in rows if r["doc_id"] in ABSENT_PAPERS)
    write_jsonl(FOLDER / "data" / "study_small_absent_qa.jsonl", asked)
    (FOLDER / "kmb_paperqa_study_small_absent.yaml").write_text(TASK_YAML)


if __name__ == "__main__":
    write_absent_task()
