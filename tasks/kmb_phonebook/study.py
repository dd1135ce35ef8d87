"""The study's PhoneBook sets: the first N rows of its book, N from its own sizes.

    python -m tasks.kmb_phonebook.study /path/to/shared/data

The study sized its sets with its own tokenizer (48 facts at 1K, 774 at 16K, 3,101 at 64K,
6,202 at 128K); `kmb_phonebook_<k>k` sizes them with SmolLM2's. One data file holds the 6,202
rows and each task names its prefix (`metadata.rows`), so every size asks the same facts in the
same order as the study. The 128K book comes with the study's 16 routing sectors as a
multi-LoRA partition file (`split: file`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.core.jsonl import write_jsonl

from .build import TASK_DIR, read_book

STEM = "phonebook_study"
SECTORS = TASK_DIR / "data" / "phonebook_study_128k_sectors.json"
TASK_YAML = """\
include: _phonebook_study_template.yaml
task: kmb_phonebook_study_{k}
metadata:
  version: 2
  qa: data/{stem}_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  rows: {rows}
  level: verbatim
"""


def build(shared: Path) -> dict[str, int]:
    """Write the data file, one task per study size and the 128K sectors; returns rows per size."""
    sizes = json.loads((shared / "study_sizes.json").read_text())["phonebook_rows"]
    book = read_book(shared / "phonebook_paper" / "synthetic_phonebook.csv")
    largest = max(sizes.values())
    if len(book) < largest:
        raise SystemExit(f"the book has {len(book)} rows; the study's largest set needs {largest}")
    rows = book[:largest]
    write_jsonl(
        TASK_DIR / "data" / f"{STEM}_qa.jsonl",
        ({"id": f"pb{i}", "name": e.name, "answer": e.phone} for i, e in enumerate(rows)),
    )
    write_jsonl(TASK_DIR / "data" / f"{STEM}_corpus.jsonl",
                ({"id": f"pb{i}", "contents": e.fact} for i, e in enumerate(rows)))  # fmt: skip
    for size, n in sizes.items():
        k = size.lower()
        (TASK_DIR / f"kmb_phonebook_study_{k}.yaml").write_text(TASK_YAML.format(k=k, stem=STEM, rows=n))
    meta = json.loads((shared / "phonebook_paper" / "phonebook_qa_128K_routing_meta.json").read_text())
    part = {f"pb{i}": int(s) for s, span in meta["sector_map"].items()
            for i in range(span["start_index"], span["end_index"] + 1)}  # fmt: skip
    SECTORS.write_text(json.dumps(part, sort_keys=True) + "\n")
    return sizes


if __name__ == "__main__":
    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")))
