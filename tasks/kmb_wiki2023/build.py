"""Wiki 2023 task data: Wikipedia pages created in autumn 2023 with short-answer questions.

Built once from the Effective-Knowledge-Injection release (arXiv 2406.06326) and committed:
`python -m tasks.kmb_wiki2023.build <folder with the release's JSON files>`. Each question carries the
page it was written from, so the corpus is those pages in first-use order and every question
keeps a `doc_id` (the gold page, for oracle routing).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.harness.taskdata import first_documents, write_task_variants

TASK_DIR = Path(__file__).resolve().parent
QA_FILES = {
    "multi": "wiki_2023_10_len_1502_openbook_test.json",
    "bio": "wiki_2023_10_len_663_open_book_test.json",
    "film": "wiki_2023_9_10_film_len_955_open_book_test.json",
}
SMALL_DOCS = 10
TASK_YAML = """\
include: ../kmb_qa/_qa_template.yaml
task: {task}
tag: {tag}
metadata:
  version: 1
  qa: data/{stem}_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  primary_metric: f1
  documents: {docs}
  questions: {questions}
"""


def convert(items: list[dict], subset: str) -> tuple[list[dict], list[dict]]:
    """Release items -> (corpus rows, QA rows)."""
    doc_ids: dict[str, str] = {}
    corpus, qa = [], []
    for i, item in enumerate(items):
        page = item["knowledge"]
        if page not in doc_ids:
            doc_ids[page] = f"{subset}{len(doc_ids)}"
            corpus.append({"id": doc_ids[page], "contents": page})
        question = item["text"].removeprefix("Question:").removesuffix("Answer:").strip()
        qa.append(
            {"id": f"{subset}-q{i}", "question": question, "answers": [item["output"].strip()], "doc_id": doc_ids[page]}
        )
    return corpus, qa


def build(source: Path) -> dict[str, tuple[int, int]]:
    sizes = {}
    for subset, name in QA_FILES.items():
        corpus, qa = convert(json.loads((source / name).read_text())["instances"], subset)
        variants = {
            subset: (corpus, qa, "kmb_wiki2023_full"),
            f"{subset}_small": (*first_documents(corpus, qa, SMALL_DOCS), "kmb_wiki2023"),
        }
        sizes.update(write_task_variants(TASK_DIR, "kmb_wiki2023_", TASK_YAML, variants))
    return sizes


if __name__ == "__main__":
    for task, (docs, questions) in build(Path(sys.argv[1])).items():
        print(f"{task}: {docs} documents, {questions} questions")
