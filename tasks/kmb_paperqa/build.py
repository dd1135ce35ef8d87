"""PaperQA task data: 15 paper introductions and 30 questions each, at three levels.

Built once from the reference study's `paperQA.json` and committed:
`python -m tasks.kmb_paperqa.build <path to paperQA.json>`. Beside it in the study's release,
`study_training_qa/` (its 40 training pairs per paper) and `study_concatenated_introductions.jsonl`
(the 15 introductions as one document) are read too: the pairs become the `study_qaN` format's
data, and the document is checked to be exactly the study-framed corpus, joined.

The study's framing (`kmb_paperqa_study_*`, `kmb_paperqa_longdoc*`): each introduction opens
with `This paper <i> discusses:` and each question with `In the Paper ID <i>, `, so a memory
that holds all 15 papers is told which one a question asks about.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.core.jsonl import write_jsonl
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
STUDY_YAML = """\
include: _paperqa_study_template.yaml
task: {task}
tag: {tag}
metadata:
  version: 1
  qa: data/{stem}_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  primary_metric: rougeL
  judge: true  # `kmbench run --judge MODEL`: a JSON verdict 0-10 per answer (bench/harness/judging.py)
  documents: {docs}
  questions: {questions}
"""
# The long-document setting: the same study-framed corpus, read as one document in sections
# (multi-LoRA cuts it by tokens with `split: window`); questions as in the study tasks.
LONGDOC_YAML = """\
include: _paperqa_study_template.yaml
task: {task}
tag: {tag}
metadata:
  version: 1
  qa: data/{stem}_qa.jsonl
  corpus: data/{stem}_corpus.jsonl  # one document: its {docs} sections, joined by blank lines
  primary_metric: rougeL
  judge: true  # `kmbench run --judge MODEL`: a JSON verdict 0-10 per answer (bench/harness/judging.py)
  sections: {docs}
  questions: {questions}
"""
LONGDOC = {
    "kmb_paperqa_longdoc": ("study_all", "kmb_longdoc"),
    "kmb_paperqa_longdoc_small": ("study_small", "kmb_longdoc_smoke"),
}
STUDY_PAIRS = 40
STUDY_QA_DIR = "study_training_qa"
STUDY_DOCUMENT = "study_concatenated_introductions.jsonl"


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


def study_section(paper: dict) -> str:
    """An introduction as the study frames it for training (its natural format, no title)."""
    return f"This paper {paper['id']} discusses:\n\n{paper['introduction']}"


def study_question(paper_id: int | str, question: str) -> str:
    """A question as the study asks it: the paper named first, the question's own words kept."""
    return f"In the Paper ID {paper_id}, {question}"


def convert_study(papers: list[dict]) -> tuple[list[dict], list[dict]]:
    """The study-framed corpus and questions; ids, answers and levels as in `convert`."""
    corpus, qa = convert(papers)
    sections = {f"paper{p['id']}": study_section(p) for p in papers}
    numbers = {f"paper{p['id']}": p["id"] for p in papers}
    corpus = [{**doc, "contents": sections[doc["id"]]} for doc in corpus]
    qa = [{**q, "question": study_question(numbers[q["doc_id"]], q["question"])} for q in qa]
    return corpus, qa


def study_training_pairs(folder: Path, papers: list[dict], test_questions: set[str]) -> list[dict]:
    """The study's `paper_<i>_qa.jsonl` files as one file's rows `{id, doc_id, question, answer}`,
    checked: 40 per paper, each framed with its own paper, none of them a test question."""
    rows = []
    for paper in papers:
        doc_id, path = f"paper{paper['id']}", folder / f"paper_{paper['id']}_qa.jsonl"
        pairs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        assert len(pairs) == STUDY_PAIRS, f"{path}: {len(pairs)} pairs, expected {STUDY_PAIRS}"
        for j, pair in enumerate(pairs):
            assert pair["question"].startswith(study_question(paper["id"], "")), pair["question"]
            assert pair["question"] not in test_questions, f"{path}: a test question among the training pairs"
            rows.append(
                {"id": f"{doc_id}-t{j}", "doc_id": doc_id, "question": pair["question"], "answer": pair["answer"]}
            )
    return rows


def check_long_document(path: Path, corpus: list[dict]) -> int:
    """The study's one long document is the study-framed corpus joined by blank lines (and one
    after the last): so the long-document tasks can use that corpus, in its 15 sections."""
    text = json.loads(path.read_text().splitlines()[0])["text"]
    assert text == "\n\n".join(doc["contents"] for doc in corpus) + "\n\n", f"{path} is not the joined corpus"
    return len(text)


def build(source: Path) -> dict[str, tuple[int, int]]:
    papers = json.loads(source.read_text())
    corpus, qa = convert(papers)
    variants = {  # probes.py rewords the small set's questions (tag kmb_depth_paperqa)
        "small": (*first_documents(corpus, qa, SMALL_PAPERS), "[kmb_paperqa, kmb_depth_paperqa]"),
        "all": (corpus, qa, "kmb_paperqa_full"),
    }
    sizes = write_task_variants(TASK_DIR, "kmb_paperqa_", TASK_YAML, variants)
    study_corpus, study_qa = convert_study(papers)
    study = {
        "study_small": (*first_documents(study_corpus, study_qa, SMALL_PAPERS), "kmb_paperqa_study"),
        "study_all": (study_corpus, study_qa, "kmb_paperqa_study_full"),
    }
    sizes |= write_task_variants(TASK_DIR, "kmb_paperqa_", STUDY_YAML, study)
    tests = {q["question"] for q in study_qa} | {q["question"] for q in qa}
    write_jsonl(
        TASK_DIR / "data" / "study_training_qa.jsonl", study_training_pairs(source.parent / STUDY_QA_DIR, papers, tests)
    )
    check_long_document(source.parent / STUDY_DOCUMENT, study_corpus)
    for task, (stem, tag) in LONGDOC.items():
        docs, questions, _ = study[stem]
        (TASK_DIR / f"{task}.yaml").write_text(
            LONGDOC_YAML.format(task=task, tag=tag, stem=stem, docs=len(docs), questions=len(questions))
        )
        sizes[task] = (len(docs), len(questions))
    return sizes


if __name__ == "__main__":
    for task, (docs, questions) in build(Path(sys.argv[1])).items():
        print(f"{task}: {docs} papers, {questions} questions")
