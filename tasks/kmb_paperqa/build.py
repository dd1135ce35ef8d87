"""PaperQA task data: 15 paper introductions and 30 questions each, at three levels.

Built once from the reference study's `paperQA.json` and committed:
`python -m tasks.kmb_paperqa.build <path to paperQA.json>`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.harness.taskdata import first_documents, write_task_variants

TASK_DIR = Path(__file__).resolve().parent
SMALL_PAPERS = 3
TASK_YAML = """\
include: _paperqa_template.yaml
task: {task}
tag: {tag}
metadata:
  version: 1
  qa: data/{stem}_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  primary_metric: rougeL
  judge: true  # `kmbench run --judge MODEL` grades the answers 0-10 (bench/judge.py)
  documents: {docs}
  questions: {questions}
  level: verbatim
"""


def convert(papers: list[dict]) -> tuple[list[dict], list[dict]]:
    corpus, qa = [], []
    for paper in papers:
        doc_id = f"paper{paper['id']}"
        corpus.append({"id": doc_id, "contents": f"{paper['title']}\n\n{paper['introduction']}", "link": paper["link"]})
        for i, item in enumerate(paper["QA"]):
            qa.append(
                {
                    "id": f"{doc_id}-q{i}",
                    "question": item["question"],
                    "answers": [item["answer"]],
                    "level": int(item["level"]),
                    "doc_id": doc_id,
                }
            )
    return corpus, qa


def build(source: Path) -> dict[str, tuple[int, int]]:
    corpus, qa = convert(json.loads(source.read_text()))
    variants = {  # probes.py rewords the small set's questions (tag kmb_depth_paperqa)
        "small": (*first_documents(corpus, qa, SMALL_PAPERS), "[kmb_paperqa, kmb_depth_paperqa]"),
        "all": (corpus, qa, "kmb_paperqa_full"),
    }
    return write_task_variants(TASK_DIR, "kmb_paperqa_", TASK_YAML, variants)


if __name__ == "__main__":
    for task, (docs, questions) in build(Path(sys.argv[1])).items():
        print(f"{task}: {docs} papers, {questions} questions")
