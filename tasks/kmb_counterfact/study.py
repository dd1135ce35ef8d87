"""The study's CounterFact sets at all 20 of its sizes, scored by its efficacy.

    python -m tasks.kmb_counterfact.study /path/to/shared/data

The study's `counterfact_edit_<N>K.csv` files are nested prefixes (106 edits at 1K … 2,154 at
20K), so every size is the first rows of `data/20k_*.jsonl` (`metadata.rows`). Each task is
the study's efficacy (the new object outscores the old after the cloze prompt); what differs
from the study: its files do not hold the true (old) object, so the old side is the default
model's own belief, as for `kmb_counterfact_<size>_efficacy` (see README).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TASK_DIR = Path(__file__).resolve().parent
TASK_YAML = """\
include: _counterfact_efficacy_template.yaml
task: kmb_counterfact_study_{k}
tag: kmb_counterfact_study
metadata:
  version: 1
  qa: data/20k_qa.jsonl
  corpus: data/20k_corpus.jsonl
  rows: {rows}
  level: verbatim
"""


def build(shared: Path) -> dict[str, int]:
    """One task per study size, checking that the sizes are prefixes of the shipped 20K set."""
    sizes = json.loads((shared / "study_sizes.json").read_text())["counterfact_rows"]
    shipped = sum(1 for line in (TASK_DIR / "data" / "20k_corpus.jsonl").read_text().splitlines() if line.strip())
    if max(sizes.values()) != shipped:
        raise SystemExit(f"data/20k_corpus.jsonl holds {shipped} edits; the study's 20K set has {max(sizes.values())}")
    for size, rows in sizes.items():
        (TASK_DIR / f"kmb_counterfact_study_{size.lower()}.yaml").write_text(
            TASK_YAML.format(k=size.lower(), rows=rows)
        )
    return sizes


if __name__ == "__main__":
    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")))
