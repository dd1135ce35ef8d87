"""PaperQA task data: 15 paper introductions and 30 questions each, at three levels.

Built once from the reference study's `paperQA.json` and committed:
`python -m bench.paperqa <path to paperQA.json>`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.taskdata import write_task_variant

TASK_DIR = Path(__file__).resolve().parent.parent / "tasks" / "kmb_paperqa"
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
  documents: {docs}
  questions: {questions}
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
    small = {d["id"] for d in corpus[:SMALL_PAPERS]}
    variants = {
        "small": (corpus[:SMALL_PAPERS], [q for q in qa if q["doc_id"] in small], "kmb_paperqa"),
        "all": (corpus, qa, "kmb_paperqa_full"),
    }
    sizes = {}
    for stem, (docs, questions, tag) in variants.items():
        task = f"kmb_paperqa_{stem}"
        yaml = TASK_YAML.format(task=task, tag=tag, stem=stem, docs=len(docs), questions=len(questions))
        write_task_variant(TASK_DIR, task, stem, docs, questions, yaml)
        sizes[task] = (len(docs), len(questions))
    return sizes


if __name__ == "__main__":
    for task, (docs, questions) in build(Path(sys.argv[1])).items():
        print(f"{task}: {docs} papers, {questions} questions")
