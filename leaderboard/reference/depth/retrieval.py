"""Is RAG's top-1 chunk the question's own fact? A check behind the README's depth section.

`python leaderboard/reference/depth/retrieval.py` (from the repository root) builds the default
`rag` memory on each depth corpus and counts, per depth task, the questions whose gold fact is
in the retrieved context (for two-hop questions: both facts, and either). Output: retrieval.txt.
"""

from __future__ import annotations

import re

from baselines import make_memory
from bench.core.memory import Query
from bench.harness.taskdata import jsonl_dataset
from bench.harness.taskspec import expand_tasks, task_manager, task_spec
from bench.model.loading import load_model


def prompts(task: str, rows: list[dict]) -> list[str]:
    """What the reader asks (the YAML's doc_to_text), rebuilt for the three prompt shapes."""
    if "prompt" in rows[0]:
        return [r["prompt"] for r in rows]
    if task == "kmb_phonebook_1k":
        return [f"Question: What is the phone number of {r['name']}? Answer:" for r in rows]
    return [f"Question: {r['question']} Answer:" for r in rows]


def main() -> None:
    model, manager = load_model("smollm2-135m"), task_manager()
    specs = [task_spec(manager, name) for name in expand_tasks(manager, ["kmb_depth"])]
    for sha in dict.fromkeys(s.corpus().sha256 for s in specs):
        group = [s for s in specs if s.corpus().sha256 == sha]
        corpus = group[0].corpus()
        docs = {d.id: d.contents for d in corpus.documents}
        memory = make_memory("rag", {}, seed=0)
        memory.write(corpus, model)
        for spec in group:
            qa = re.search(r"qa: (\S+)", spec.yaml_path.read_text()).group(1)
            rows = list(jsonl_dataset(qa, spec.yaml_path.parent)["test"])
            gold = [str(r.get("doc_id", r.get("id"))) for r in rows]
            recalls = memory.recall([Query(t, g) for t, g in zip(prompts(spec.name, rows), gold, strict=True)], 4096)
            hits = sum(docs[g] in rc.context for g, rc in zip(gold, recalls, strict=True))
            line = f"{spec.name}: gold fact retrieved for {hits}/{len(rows)}"
            if "doc_ids" in rows[0]:
                pairs = [[docs[d] in rc.context for d in r["doc_ids"]] for r, rc in zip(rows, recalls, strict=True)]
                line += f"; both facts {sum(map(all, pairs))}, either {sum(map(any, pairs))}"
            print(line)


if __name__ == "__main__":
    main()
