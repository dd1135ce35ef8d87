"""PhoneBook depth probes: the 1k book's facts asked in ways the memories never saw written.

The verbatim task asks each fact as its own training line cut before the number, so a perfect
score can be recall of that line. These tasks ask the same 36 facts, over the same corpus file
(so the same cached LoRA adapter), three other ways:

- paraphrase: every fact in each of `PARAPHRASES`, none of them a training wording;
- reverse: the number given, whose it is (`REVERSE`);
- multi_hop: two facts at once, which of two people has the larger number (`TWO_HOP`), pairs
  drawn with a seed, each person in at most two pairs, the answer first in exactly half.

None of these wordings may appear in training data a template writes: not in the corpus, and
not in `bench.parts.synth`'s template formats (qa, summary, rewrite, paraphrase); the tests
check that no four-word run is shared. Rebuild: `python -m tasks.kmb_phonebook.probes`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from bench.core.jsonl import write_jsonl
from tasks.kmb_phonebook.build import TASK_DIR, Entry

STEM = "phonebook_1k"
SEED = 0
PARAPHRASES = (
    "Which number should I dial to reach {name}?",
    "{name} can be reached at which phone number?",
    "If I want to ring {name}, what do I dial?",
    "Look up {name} in the directory: what is the listed number?",
)
REVERSE = "Whose number is {phone}?"
TWO_HOP = "Which of {first} and {second} has the larger phone number?"
PROBES = {  # task suffix -> (level, template the YAML includes)
    "paraphrase": ("paraphrase", "_phonebook_paraphrase_template.yaml"),
    "reverse": ("reverse", "_phonebook_names_template.yaml"),
    "two_hop": ("multi_hop", "_phonebook_names_template.yaml"),
}
PROBE_YAML = """\
include: {template}
task: kmb_phonebook_1k_{suffix}
tag: [kmb_depth, kmb_phonebook_probes]
metadata:
  version: 1
  qa: data/{stem}_{suffix}_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  level: {level}
  questions: {questions}
"""


def read_entries(stem: str = STEM) -> list[Entry]:
    """The facts of a committed size, from its questions file (name and number per fact)."""
    from bench.harness.taskdata import jsonl_dataset

    rows = jsonl_dataset(f"data/{stem}_qa.jsonl", TASK_DIR)["test"]
    return [Entry(row["name"], row["answer"]) for row in rows]


def paraphrase_rows(entries: Sequence[Entry]) -> list[dict]:
    """Every fact in every wording; `wording` numbers the wording, for a per-wording score."""
    return [
        {
            "id": f"pb{i}-w{w}",
            "question": text.format(name=e.name),
            "answer": e.phone,
            "name": e.name,
            "wording": w,
            "doc_id": f"pb{i}",
        }
        for i, e in enumerate(entries)
        for w, text in enumerate(PARAPHRASES)
    ]


def reverse_rows(entries: Sequence[Entry]) -> list[dict]:
    """Each number asked for its owner. Numbers must be unique, or the answer would be ambiguous."""
    if len({e.phone for e in entries}) != len(entries):
        raise ValueError("two facts share a number; a reverse question would have two answers")
    return [
        {
            "id": f"pb{i}-rev",
            "question": REVERSE.format(phone=e.phone),
            "answer": e.name,
            "phone": e.phone,
            "doc_id": f"pb{i}",
        }
        for i, e in enumerate(entries)
    ]


def number_value(phone: str) -> int:
    """A number as an integer of its digits, the order "larger" means."""
    return int("".join(ch for ch in phone if ch.isdigit()))


def draw_pairs(n: int, count: int, seed: int, per_fact: int = 2) -> list[tuple[int, int]]:
    """`count` distinct pairs of fact indexes, seeded, no fact in more than `per_fact` of them."""
    rng = random.Random(seed)
    candidates = [(i, j) for i in range(n) for j in range(i + 1, n)]
    rng.shuffle(candidates)
    used = [0] * n
    pairs = []
    for i, j in candidates:
        if used[i] < per_fact and used[j] < per_fact:
            pairs.append((i, j))
            used[i] += 1
            used[j] += 1
            if len(pairs) == count:
                return pairs
    raise ValueError(f"cannot draw {count} pairs from {n} facts with at most {per_fact} per fact")


def two_hop_rows(entries: Sequence[Entry], seed: int = SEED) -> list[dict]:
    """One comparison per fact (as many questions as facts), the right answer named first in
    even-numbered questions and second in odd ones, so naming the first person scores 50%."""
    if len({number_value(e.phone) for e in entries}) != len(entries):
        raise ValueError("two facts share a number; 'the larger' would be undefined")
    rows = []
    for k, (i, j) in enumerate(draw_pairs(len(entries), len(entries), seed)):
        hi, lo = (i, j) if number_value(entries[i].phone) > number_value(entries[j].phone) else (j, i)
        first, second = (hi, lo) if k % 2 == 0 else (lo, hi)
        rows.append(
            {
                "id": f"pb-pair{k}",
                "question": TWO_HOP.format(first=entries[first].name, second=entries[second].name),
                "answer": entries[hi].name,
                "other": entries[lo].name,
                "doc_id": f"pb{hi}",
                "doc_ids": [f"pb{first}", f"pb{second}"],
            }
        )
    return rows


def build(seed: int = SEED, folder: Path = TASK_DIR) -> dict[str, int]:
    """(Re)write the three probe tasks' questions and YAML; returns questions per task."""
    entries = read_entries()
    made = {"paraphrase": paraphrase_rows(entries), "reverse": reverse_rows(entries),
            "two_hop": two_hop_rows(entries, seed)}  # fmt: skip
    sizes = {}
    for suffix, rows in made.items():
        level, template = PROBES[suffix]
        write_jsonl(folder / "data" / f"{STEM}_{suffix}_qa.jsonl", rows)
        text = PROBE_YAML.format(template=template, suffix=suffix, stem=STEM, level=level, questions=len(rows))
        (folder / f"kmb_phonebook_1k_{suffix}.yaml").write_text(text)
        sizes[f"kmb_phonebook_1k_{suffix}"] = len(rows)
    return sizes


if __name__ == "__main__":
    for task, n in build().items():
        print(f"{task}: {n} questions")
