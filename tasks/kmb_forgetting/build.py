"""Forgetting probe data: EntityQuestions the base model already answers right, closed-book.

Built once and committed: `python -m tasks.kmb_forgetting.build <entityquestions folder> [--model M]`.
A seeded sample of each relation's test questions is asked closed-book exactly as the probe
task asks them; the questions the model gets exactly right are kept (up to `--keep`). A memory
that installs adapters is then asked them again (`bench.run.retention`): what it still answers
right is what the adapter did not overwrite.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from bench.core.jsonl import write_jsonl
from bench.harness.scoring import qa_scores

TASK_DIR = Path(__file__).resolve().parent
QA_FILE = TASK_DIR / "data" / "qa.jsonl"


def sample_questions(source: Path, per_relation: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for path in sorted((source / "test").glob("P*.test.json")):
        relation = path.name.split(".")[0]
        items = json.loads(path.read_text())
        for i, item in enumerate(rng.sample(items, min(per_relation, len(items)))):
            rows.append({"id": f"{relation}-{i}", "question": item["question"], "answers": item["answers"]})
    return rows


def known_questions(rows: list[dict], model_name: str) -> list[dict]:
    """The rows the model answers with an exact match, closed-book, greedy, asked exactly as the
    probe task asks them (its prompt, stop strings and answer length, read from the task)."""
    from lm_eval.tasks import get_task_dict

    from bench.answer.reader import Reader
    from bench.core.memory import Recall
    from bench.harness.roles import task_roles
    from bench.harness.taskspec import task_manager
    from bench.model.loading import load_model

    write_jsonl(QA_FILE, rows)  # the task reads its questions from here
    task = get_task_dict([task_roles().probe_task], task_manager())[task_roles().probe_task]
    gen = task.config.generation_kwargs
    prompts = [task.doc_to_text(row) for row in rows]
    reader = Reader(load_model(model_name), batch_size=32)
    answers = reader.generate(prompts, [Recall()] * len(rows), 0, gen["until"], gen["max_gen_toks"])
    return [r for r, a in zip(rows, answers, strict=True) if qa_scores(a.text, r["answers"])["exact_match"] == 1.0]


def build(source: Path, model_name: str, per_relation: int, keep: int, seed: int) -> tuple[int, int]:
    asked = sample_questions(source, per_relation, seed)
    known = known_questions(asked, model_name)
    kept = random.Random(seed).sample(known, min(keep, len(known)))
    kept.sort(key=lambda r: (r["id"].split("-")[0], int(r["id"].split("-")[1])))
    write_jsonl(QA_FILE, kept)
    provenance = {"model": model_name, "per_relation": per_relation, "asked": len(asked), "known": len(known)}
    (TASK_DIR / "data" / "provenance.json").write_text(json.dumps({**provenance, "kept": len(kept), "seed": seed}))
    return len(asked), len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tasks.kmb_forgetting.build", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="EntityQuestions folder (with test/P*.test.json)")
    parser.add_argument("--model", default="smollm2-135m", help="the base model whose knowledge is probed")
    parser.add_argument("--per-relation", type=int, default=20, help="questions sampled per relation")
    parser.add_argument("--keep", type=int, default=200, help="at most this many known questions are kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    asked, kept = build(args.source, args.model, args.per_relation, args.keep, args.seed)
    print(f"kmb_forgetting: asked {asked}, kept {kept} questions {args.model} answers right")


if __name__ == "__main__":
    main()
