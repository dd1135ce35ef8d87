"""PhoneBook task data: token-sized prefixes of the study's phone book, and fresh seeded books.

A size such as "1k" means the longest prefix of the book whose fact lines add up to at most
1,024 tokens of the default model's tokenizer (SmolLM2), the study's way of sizing knowledge.
The files are written once and committed, so lm-eval reads them as plain JSONL.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.core.config import DEFAULT_MODEL
from bench.core.errors import UserError
from bench.core.jsonl import write_jsonl

FACT_TEMPLATE = "Question: What is the phone number of {name}? Answer: {phone}"
PAPER_BOOK = Path(__file__).resolve().parent / "data" / "synthetic_phonebook.csv"
SIZES_K = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class Entry:
    name: str
    phone: str

    @property
    def fact(self) -> str:
        return FACT_TEMPLATE.format(name=self.name, phone=self.phone)


def read_book(path: Path = PAPER_BOOK) -> list[Entry]:
    with path.open(newline="") as f:
        return [Entry(row["Name"], row["Phone"]) for row in csv.DictReader(f)]


def prefix_for_tokens(entries: Sequence[Entry], max_tokens: int, count_tokens: Callable[[str], int]) -> list[Entry]:
    """Longest prefix whose fact lines (one newline each) fit in `max_tokens`."""
    kept, used = [], 0
    for entry in entries:
        used += count_tokens(entry.fact + "\n")
        if used > max_tokens:
            break
        kept.append(entry)
    return kept


def fresh_book(n_facts: int, seed: int, avoid: Sequence[Entry] = ()) -> list[Entry]:
    """A new book: names recombined from the paper's first and last names, random numbers."""
    if n_facts < 1:
        raise UserError(f"a phone book needs at least 1 fact, got {n_facts}")
    base = list(avoid) or read_book()
    firsts = sorted({e.name.split()[0] for e in base})
    lasts = sorted({e.name.split()[-1] for e in base})
    if n_facts > len(firsts) * len(lasts) // 2:
        raise UserError(f"at most {len(firsts) * len(lasts) // 2} fresh facts can be made, asked {n_facts}")
    taken = {e.name for e in base}
    rng = random.Random(seed)
    book: list[Entry] = []
    while len(book) < n_facts:
        name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
        if name in taken:
            continue
        taken.add(name)
        phone = f"{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        book.append(Entry(name, phone))
    return book


def write_task_files(entries: Sequence[Entry], folder: Path, stem: str) -> None:
    """`<stem>_qa.jsonl` for lm-eval and `<stem>_corpus.jsonl` ({id, contents}) for the memories."""
    write_jsonl(
        folder / f"{stem}_qa.jsonl",
        ({"id": f"pb{i}", "name": e.name, "answer": e.phone} for i, e in enumerate(entries)),
    )
    write_jsonl(folder / f"{stem}_corpus.jsonl", ({"id": f"pb{i}", "contents": e.fact} for i, e in enumerate(entries)))


TASK_DIR = PAPER_BOOK.parent.parent
TASK_YAML = """\
include: _phonebook_template.yaml
task: {task}
metadata:
  version: 1
  qa: data/{stem}_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  facts: {facts}
  level: verbatim
"""
DEPTH_SIZE_K = 1  # the size whose facts the depth probes (probes.py) ask in other ways; tagged with them
DEPTH_TAG = "tag: [kmb_phonebook, kmb_depth]\n"


def size_task_yaml(k: int, n_facts: int) -> str:
    text = TASK_YAML.format(task=f"kmb_phonebook_{k}k", stem=f"phonebook_{k}k", facts=n_facts)
    if k == DEPTH_SIZE_K:  # a tag here replaces the template's, so it names kmb_phonebook again
        head, _, rest = text.partition("metadata:\n")
        text = head + DEPTH_TAG + "metadata:\n" + rest
    return text


def write_fresh_task(folder: Path, n_facts: int, seed: int) -> str:
    """A self-contained task folder with a new book (template and hooks copied); returns its name."""
    task = f"kmb_phonebook_fresh_n{n_facts}_s{seed}"
    stem = f"fresh_n{n_facts}_s{seed}"
    book = fresh_book(n_facts, seed)
    write_task_files(book, folder / "data", stem)
    for name in ("_phonebook_template.yaml", "utils.py"):
        (folder / name).write_text((TASK_DIR / name).read_text())
    (folder / f"{task}.yaml").write_text(TASK_YAML.format(task=task, stem=stem, facts=len(book)))
    return task


def build_sizes(count_tokens: Callable[[str], int], sizes_k: Sequence[int] = SIZES_K) -> dict[int, int]:
    """(Re)write the committed size tasks from the paper's book; returns facts per size."""
    book = read_book()
    facts = {}
    for k in sizes_k:
        entries = prefix_for_tokens(book, k * 1024, count_tokens)
        write_task_files(entries, TASK_DIR / "data", f"phonebook_{k}k")
        (TASK_DIR / f"kmb_phonebook_{k}k.yaml").write_text(size_task_yaml(k, len(entries)))
        facts[k] = len(entries)
    return facts


if __name__ == "__main__":  # python -m tasks.kmb_phonebook.build: rebuild with the default model's tokenizer
    from transformers import AutoTokenizer

    from bench.model.loading import converted_folder

    tokenizer = AutoTokenizer.from_pretrained(converted_folder(DEFAULT_MODEL))
    print(build_sizes(lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)))
