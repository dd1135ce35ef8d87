"""Held-out task data: knowledge no evaluated task asks, on which `kmbench select` chooses defaults.

- PhoneBook: a fresh seeded book, exactly what `kmbench phonebook DIR --facts 48 --seed 1001`
  writes. Its names recombine the study's first and last names and avoid all 10,000 of the
  study's people, and every `kmb_phonebook_*` task is a prefix of the study's book, so no fact
  is shared with an evaluated task.
- CounterFact: all 2,154 shipped edits are asked by `kmb_counterfact_20k`, so none can be held
  out. The held-out edits are new ones, made from the shipped parts the way a fresh book is:
  a shipped prompt (subject and template) with another object the same template takes in the
  shipped set, neither the edit's new object (the evaluated answer) nor its old one (the base
  model's belief, the same prompt's `old`). No statement is one a task asks; each subject
  occurs once.
- PaperQA: all 15 papers are asked by `kmb_paperqa_all`; none is held out.

Deterministic; `python -m tasks.heldout.build` rewrites the committed files.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.core.jsonl import read_jsonl_objects, write_jsonl
from tasks.kmb_phonebook.build import fresh_book, write_task_files

TASK_DIR = Path(__file__).resolve().parent
COUNTERFACT_EDITS = TASK_DIR.parent / "kmb_counterfact" / "data" / "20k_qa.jsonl"  # every shipped edit
PHONEBOOK_FACTS, PHONEBOOK_SEED = 48, 1001
EDITS, EDITS_SEED = 48, 1001
TASK_YAML = """\
# Held out: chooses the memories' defaults (`kmbench select`) and is never evaluated; see README.md.
include: ../{source}/{template}
task: kmb_heldout_{name}
tag: kmb_heldout
metadata:
  version: 1
  qa: data/{name}_qa.jsonl
  corpus: data/{name}_corpus.jsonl
  {size}
"""


def heldout_edits(shipped: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """`n` counterfactual edits no shipped edit states: a shipped prompt with another object of its template."""
    asked = {f"{row['prompt']} {row['new']}" for row in shipped}
    objects: dict[str, set[str]] = defaultdict(set)
    for row in shipped:
        objects[row["prompt"].replace(row["subject"], "{}", 1)].add(row["new"])
    rng = random.Random(seed)
    order = list(shipped)
    rng.shuffle(order)
    edits: list[dict[str, Any]] = []
    subjects: set[str] = set()
    for row in order:
        template = row["prompt"].replace(row["subject"], "{}", 1)
        choices = sorted(objects[template] - {row["new"], row["old"]})
        choices = [o for o in choices if f"{row['prompt']} {o}" not in asked]
        if row["subject"] in subjects or not choices:
            continue
        subjects.add(row["subject"])
        i = len(edits)
        edits.append({"id": f"hcf{i}", "prompt": row["prompt"], "new": rng.choice(choices), "old": row["old"]})
        edits[-1].update(subject=row["subject"], doc_id=f"hcf{i}")
        if len(edits) == n:
            return edits
    raise ValueError(f"only {len(edits)} held-out edits can be made, asked {n}")


def build(folder: Path = TASK_DIR) -> dict[str, int]:
    """Write both held-out tasks (data and YAML); returns each one's size."""
    book = fresh_book(PHONEBOOK_FACTS, PHONEBOOK_SEED)
    write_task_files(book, folder / "data", "phonebook")
    shipped = [row for _, row in read_jsonl_objects(COUNTERFACT_EDITS, "CounterFact edits")]
    edits = heldout_edits(shipped, EDITS, EDITS_SEED)
    write_jsonl(folder / "data" / "counterfact_qa.jsonl", edits)
    write_jsonl(
        folder / "data" / "counterfact_corpus.jsonl",
        ({"id": e["id"], "contents": f"{e['prompt']} {e['new']}"} for e in edits),
    )
    sizes = {
        "phonebook": ("kmb_phonebook", "_phonebook_template.yaml", f"facts: {len(book)}\n  seed: {PHONEBOOK_SEED}"),
        "counterfact": ("kmb_counterfact", "_counterfact_template.yaml", f"edits: {len(edits)}\n  seed: {EDITS_SEED}"),
    }
    for name, (source, template, size) in sizes.items():
        text = TASK_YAML.format(source=source, template=template, name=name, size=size)
        (folder / f"kmb_heldout_{name}.yaml").write_text(text)
    return {"phonebook": len(book), "counterfact": len(edits)}


if __name__ == "__main__":
    for task, n in build().items():
        print(f"kmb_heldout_{task}: {n}")
