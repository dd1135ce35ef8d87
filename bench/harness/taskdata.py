"""Task data files: reading them for lm-eval, and checking user-supplied QA files line by line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.core.jsonl import read_jsonl_objects, write_jsonl
from bench.harness.roles import task_roles


def jsonl_dataset(path: str, here: Path) -> Any:
    """A `test` split from a JSONL file, relative to the task's folder so lm-eval runs from anywhere."""
    import datasets

    full = Path(path) if Path(path).is_absolute() else here / path
    rows = [row for _, row in read_jsonl_objects(full, "task data")]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def load_qa(qa: str, config_source: str | None = None, rows: int | None = None, **_: Any) -> Any:
    """Every KMBench task's `custom_dataset` (`!function bench.harness.taskdata.load_qa` in the shared
    templates): lm-eval calls it with the task's `metadata`, whose `config_source` is the task's own
    YAML file, so `metadata.qa` is read relative to that file, like `metadata.corpus`. With
    `metadata.rows`, only the first rows (nested sizes share one file, as the study's sets do)."""
    if config_source is None and not Path(qa).is_absolute():
        raise UserError(f"task data {qa!r} is relative, but lm-eval gave no `config_source` to resolve it against")
    dataset = jsonl_dataset(qa, Path(config_source or "/").parent)
    if rows is not None:
        dataset["test"] = dataset["test"].select(range(min(int(rows), len(dataset["test"]))))
    return dataset


def first_documents(corpus: list[dict], qa: list[dict], n: int) -> tuple[list[dict], list[dict]]:
    """The first `n` documents and the questions whose gold `doc_id` is among them."""
    kept = corpus[:n]
    ids = {d["id"] for d in kept}
    return kept, [q for q in qa if q["doc_id"] in ids]


def write_task_variants(
    task_dir: Path, prefix: str, yaml_template: str, variants: dict[str, tuple[list[dict], list[dict], str]]
) -> dict[str, tuple[int, int]]:
    """For each `stem: (documents, questions, tag)`, write `data/<stem>_corpus.jsonl`,
    `data/<stem>_qa.jsonl` and `<prefix><stem>.yaml`; returns (documents, questions) per task."""
    sizes = {}
    for stem, (docs, qa, tag) in variants.items():
        task = f"{prefix}{stem}"
        write_jsonl(task_dir / "data" / f"{stem}_corpus.jsonl", docs)
        write_jsonl(task_dir / "data" / f"{stem}_qa.jsonl", qa)
        yaml = yaml_template.format(task=task, tag=tag, stem=stem, docs=len(docs), questions=len(qa))
        (task_dir / f"{task}.yaml").write_text(yaml)
        sizes[task] = (len(docs), len(qa))
    return sizes


def read_qa(path: Path) -> list[dict[str, Any]]:
    """`{id, question, answers[]}` lines; a bad line is reported with its file, line and field."""
    rows = []
    for number, row in read_jsonl_objects(path, "QA file"):
        if not isinstance(row.get("question"), str) or not row["question"].strip():
            raise UserError(f"{path}:{number}: field 'question' must be a non-empty string")
        answers = row.get("answers")
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a for a in answers):
            raise UserError(f"{path}:{number}: field 'answers' must be a non-empty list of strings")
        rows.append({"id": str(row.get("id", number)), "question": row["question"], "answers": answers})
    if not rows:
        raise UserError(f"{path}: no questions")
    return rows


BYOK_YAML = """\
include: {template}
task: {task}
metadata:
  version: 1
  qa: qa.jsonl
  corpus: corpus.jsonl
"""


def write_byok_task(corpus_path: Path, qa_path: Path, name: str | None = None) -> tuple[Path, str]:
    """Check a user's corpus and QA files, then write them as an lm-eval task folder in the cache.

    The folder is named by a hash of both files, so the same files always make the same task
    and a run's record can point at it; nothing is written to the run's output folder.
    """
    import hashlib
    import re

    from bench.core.memory import Corpus
    from bench.core.paths import cache_dir
    from bench.core.staging import staged_folder

    corpus = Corpus.from_jsonl(corpus_path)
    rows = read_qa(qa_path)
    stem = re.sub(r"[^a-z0-9]+", "_", (name or qa_path.stem).lower()).strip("_") or "task"
    task = f"kmb_byok_{stem}"
    digest = hashlib.sha256((corpus.sha256 + json.dumps(rows, sort_keys=True)).encode()).hexdigest()[:12]
    folder = cache_dir() / "tasks" / f"{task}-{digest}"
    if not (folder / f"{task}.yaml").is_file():
        with staged_folder(folder, complete=lambda f: (f / f"{task}.yaml").is_file()) as scratch:
            write_jsonl(scratch / "qa.jsonl", rows)
            write_jsonl(scratch / "corpus.jsonl", ({"id": d.id, "contents": d.contents} for d in corpus.documents))
            (scratch / f"{task}.yaml").write_text(BYOK_YAML.format(template=task_roles().qa_template, task=task))
    return folder, task
