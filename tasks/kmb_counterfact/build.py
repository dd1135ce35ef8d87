"""CounterFact task data: the study's counterfactual edits, cut into cloze prompts.

Built once from the study's CounterFact subset and committed:
`python -m tasks.kmb_counterfact.build <folder with counterfact_edit_*.csv> [--model smollm2-135m]`.

Each statement is a CounterFact prompt followed by its new object ("Lenta.ru is written in" +
"Italian"). The files mark only the subject. Every object in this subset is one word: cutting
each statement where the statements sharing its template (subject replaced by `{}`) start to
differ gives the last word for 2,151 of the 2,154 statements, and the other 3 have templates
that occur once. So the prompt is the statement without its last word, and must hold the subject.

The true ("old") object is not in the files. Its stand-in is the base model's own belief:
among the objects CounterFact uses with the same template (plus the most common objects
overall), the one whose first token the model scores highest after the prompt, other than the
new object (the study's efficacy compares first tokens).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from bench.core.config import DEFAULT_MODEL
from bench.core.jsonl import write_jsonl

TASK_DIR = Path(__file__).resolve().parent
SIZES = ("1K", "2K", "4K", "8K", "20K")
SMALL = "1k"
COMMON_CANDIDATES = 30  # most frequent objects added to every template's candidate set
TASK_YAML = """\
include: {template}
task: kmb_counterfact_{stem}{suffix}
tag: {tag}
metadata:
  version: 1
  qa: data/{stem}_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  edits: {edits}
  level: verbatim
"""


@dataclass(frozen=True)
class Edit:
    id: str
    statement: str
    subject: str
    prompt: str
    new: str

    @property
    def template(self) -> str:
        return self.prompt.replace(self.subject, "{}", 1)


def read_edits(source: Path, size: str) -> list[tuple[str, str]]:
    """(statement, subject) rows of one size."""
    with (source / f"counterfact_edit_{size}.csv").open(newline="") as f:
        statements = [row["text"] for row in csv.DictReader(f)]
    subjects = json.loads((source / f"counterfact_edit_{size}_meta.json").read_text())["subjects"]
    if len(subjects) != len(statements):
        raise ValueError(f"{size}: {len(statements)} statements but {len(subjects)} subjects")
    return list(zip(statements, subjects, strict=True))


def cut_statements(rows: list[tuple[str, str]]) -> list[Edit]:
    """Split every statement into its prompt (with the subject) and its one-word new object."""
    edits = []
    for i, (statement, subject) in enumerate(rows):
        prompt, _, new = statement.rpartition(" ")
        if subject not in prompt or not new:
            raise ValueError(f"row {i}: {statement!r} is not a prompt with subject {subject!r} and a one-word object")
        edits.append(Edit(f"cf{i}", statement, subject, prompt, new))
    return edits


def candidate_objects(edits: list[Edit]) -> dict[str, list[str]]:
    """Per template: the objects CounterFact uses with it, plus the most common objects."""
    common = [o for o, _ in Counter(e.new for e in edits).most_common(COMMON_CANDIDATES)]
    by_template: dict[str, set[str]] = defaultdict(set)
    for e in edits:
        by_template[e.template].add(e.new)
    return {t: sorted(objects | set(common)) for t, objects in by_template.items()}


def old_objects(edits: list[Edit], model_name: str, batch_size: int = 32) -> list[str]:
    """The base model's preferred object after each prompt, closed-book: the candidate whose first
    token it scores highest, among those whose first token differs from the new object's."""
    import torch

    from bench.model.loading import load_model

    lm = load_model(model_name)
    tok = lm.tokenizer
    candidates = candidate_objects(edits)
    first = {o: tok(" " + o, add_special_tokens=False).input_ids[0] for objs in candidates.values() for o in objs}
    olds = []
    for start in tqdm(range(0, len(edits), batch_size), desc="old objects", unit="batch"):
        batch = edits[start : start + batch_size]
        rows = [tok(e.prompt, add_special_tokens=False).input_ids for e in batch]
        width = max(map(len, rows))
        ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in rows])  # left-padded
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        with torch.inference_mode():
            logits = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device)).logits[:, -1]
        for e, scores in zip(batch, logits.log_softmax(-1), strict=True):
            options = [o for o in candidates[e.template] if first[o] != first[e.new]]
            olds.append(max(options, key=lambda o: float(scores[first[o]])))
    return olds


def size_tag(stem: str, suffix: str) -> str:
    """The small size runs with `kmb_counterfact`; its generation task also with the depth probes
    (`probes.py` asks its edits in other words, tag `kmb_depth`)."""
    if stem != SMALL:
        return "kmb_counterfact_sizes"
    return "[kmb_counterfact, kmb_counterfact_sizes" + (", kmb_depth]" if suffix == "" else "]")


def build(source: Path, model_name: str) -> dict[str, int]:
    largest = cut_statements(read_edits(source, SIZES[-1]))
    olds = old_objects(largest, model_name)
    template = "_counterfact_template.yaml"
    sizes = {}
    for size in SIZES:
        rows = read_edits(source, size)
        n = len(rows)
        edits = largest[:n]
        if [(e.statement, e.subject) for e in edits] != rows:
            raise ValueError(f"{size} is not a prefix of {SIZES[-1]}")
        stem = size.lower()
        write_jsonl(TASK_DIR / "data" / f"{stem}_corpus.jsonl", ({"id": e.id, "contents": e.statement} for e in edits))
        write_jsonl(
            TASK_DIR / "data" / f"{stem}_qa.jsonl",
            (
                {"id": e.id, "prompt": e.prompt, "new": e.new, "old": old, "subject": e.subject, "doc_id": e.id}
                for e, old in zip(edits, olds[:n], strict=True)
            ),
        )
        for suffix, tmpl in (("", template), ("_efficacy", "_counterfact_efficacy_template.yaml")):
            text = TASK_YAML.format(template=tmpl, stem=stem, suffix=suffix, tag=size_tag(stem, suffix), edits=n)
            (TASK_DIR / f"kmb_counterfact_{stem}{suffix}.yaml").write_text(text)
        sizes[stem] = n
    meta = {"old_object_model": model_name, "candidates": f"template objects + {COMMON_CANDIDATES} most common"}
    (TASK_DIR / "data" / "old_objects.json").write_text(json.dumps(meta, indent=1) + "\n")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tasks.kmb_counterfact.build", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with counterfact_edit_{1K..20K}.csv and *_meta.json")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="base model whose belief stands in for the old object")
    args = parser.parse_args()
    for stem, n in build(args.source, args.model).items():
        print(f"kmb_counterfact_{stem}: {n} edits")


if __name__ == "__main__":
    main()
