"""The reference study's own PaperQA training data as a format: `study_qaN` trains on the first N
of the 40 QA pairs per paper that the study had GPT-4.1 write from each introduction (600 in
all, Paper-ID framed, none of them a test question), so the format questions (Q4, Q5, Q7) can
run on the study's data as well as on a local generator's.

The pairs ship with the PaperQA task (`tasks/kmb_paperqa/data/study_training_qa.jsonl`, built
by its `build.py`). A document gets its paper's pairs by id (`paper<i>`); a window cut inside
the text (`bench.parts.modules.Window`) gets the pairs of the papers it holds.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache

from bench.core.errors import UserError
from bench.core.jsonl import read_jsonl_objects
from bench.core.memory import Corpus, Document
from bench.harness.roles import task_roles
from bench.parts.modules import held_documents

PER_PAPER = 40
TRAINING_LINE = "Question: {question}\nAnswer: {answer}"  # the reader's prompt, then the answer


@cache
def study_pairs() -> dict[str, list[tuple[str, str]]]:
    """Paper id -> its (question, answer) pairs, in the study's order."""
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for _, row in read_jsonl_objects(task_roles().study_training_qa, "study training QA"):
        pairs[str(row["doc_id"])].append((str(row["question"]), str(row["answer"])))
    return dict(pairs)


def study_documents(corpus: Corpus, count: int) -> list[Document]:
    """The first `count` study pairs of every paper the corpus holds, as training lines."""
    pairs = study_pairs()
    missing = [doc_id for doc_id in held_documents(corpus) if doc_id not in pairs]
    if missing:
        raise UserError(
            f"format study_qa: document {missing[0]!r} is no PaperQA paper; the study's training pairs "
            "cover the PaperQA papers (paper0 ... paper14) only"
        )
    return [
        Document(f"{doc_id}/study_qa{j}", TRAINING_LINE.format(question=q, answer=a))
        for doc_id in held_documents(corpus)
        for j, (q, a) in enumerate(pairs[doc_id][:count])
    ]
