"""Tasks are plain lm-eval tasks: lm-eval's TaskManager finds them and evaluates them with `limit`."""

from __future__ import annotations

import pytest
from conftest import task_utils

from bench.core.errors import UserError
from bench.core.paths import TASKS_DIR
from bench.harness.taskdata import load_qa
from bench.harness.taskspec import expand_tasks, task_manager, task_spec


def test_lm_eval_lists_every_phonebook_size():
    manager = task_manager()
    assert expand_tasks(manager, ["kmb_phonebook"]) == [f"kmb_phonebook_{k}k" for k in (1, 2, 4, 8, 16)]


def test_sizes_are_nested_prefixes_with_matching_corpus():
    manager = task_manager()
    previous: list[str] = []
    for name in expand_tasks(manager, ["kmb_phonebook"]):
        spec = task_spec(manager, name)
        contents = [d.contents for d in spec.corpus().documents]
        assert contents[: len(previous)] == previous and len(contents) > len(previous)
        previous = contents
        qa = load_qa(f"data/{name.removeprefix('kmb_')}_qa.jsonl", config_source=str(spec.yaml_path))["test"]
        assert len(qa) == len(contents)
        assert contents[0].endswith(qa[0]["answer"]) and qa[0]["name"] in contents[0]


def test_unknown_task_suggests_close_names():
    with pytest.raises(UserError, match="did you mean kmb_phonebook_1k"):
        expand_tasks(task_manager(), ["kmb_phonebok_1k"])


@pytest.mark.parametrize(
    ("response", "exact", "digits"),
    [
        ("603-556-7631", 1.0, 1.0),
        ("603-556-7631\nQuestion: next", 1.0, 1.0),
        ("The number is 603-556-7631.", 0.0, 1.0),
        ("603-556-7632", 0.0, 0.0),
        ("", 0.0, 0.0),
    ],
)
def test_phonebook_scoring(response, exact, digits):
    scores = task_utils("kmb_phonebook").process_results({"answer": "603-556-7631"}, [response])
    assert scores == {"exact_match": exact, "digits_match": digits}


def test_smoke_through_lm_eval_with_limit(tiny_model, tiny_task_dir):
    import lm_eval

    from baselines import make_memory
    from bench.answer.lm import MemoryLM
    from bench.answer.reader import Reader

    manager = task_manager([tiny_task_dir])
    spec = task_spec(manager, "kmb_tiny")
    memory = make_memory("icl", {}, seed=0)
    memory.write(spec.corpus(), tiny_model)
    lm = MemoryLM(memory, Reader(tiny_model, batch_size=4), context_budget=64)
    results = lm_eval.simple_evaluate(model=lm, tasks=["kmb_tiny"], task_manager=manager, limit=3, bootstrap_iters=10)
    assert results["results"]["kmb_tiny"]["sample_len"] == 3
    assert {"exact_match,none", "digits_match,none"} <= set(results["results"]["kmb_tiny"])
    assert len(lm.log.asked) == 3 and lm.log.budgets == [64]


WIKI = ["multi", "bio", "film"]


@pytest.mark.parametrize("subset", WIKI)
def test_wiki_questions_point_at_their_pages_and_small_is_a_prefix(subset):
    manager = task_manager()
    full, small = task_spec(manager, f"kmb_wiki2023_{subset}"), task_spec(manager, f"kmb_wiki2023_{subset}_small")
    assert full.primary_metric == "f1"
    full_docs, small_docs = full.corpus().documents, small.corpus().documents
    assert small_docs == full_docs[: len(small_docs)] and len(small_docs) == 10
    from bench.harness.taskdata import jsonl_dataset

    questions = jsonl_dataset(f"data/{subset}_small_qa.jsonl", TASKS_DIR / "kmb_wiki2023")["test"]
    ids = {d.id for d in small_docs}
    assert len(questions) > 0 and all(q["doc_id"] in ids for q in questions)
    assert all(q["answers"] and q["question"].endswith("?") for q in questions)


def test_wiki_tag_runs_the_small_subsets():
    assert expand_tasks(task_manager(), ["kmb_wiki2023"]) == [
        f"kmb_wiki2023_{s}_small" for s in ("bio", "film", "multi")
    ]


def test_wiki_smoke_through_lm_eval(tiny_model):
    import lm_eval

    from baselines import make_memory
    from bench.answer.lm import MemoryLM
    from bench.answer.reader import Reader

    manager = task_manager()
    spec = task_spec(manager, "kmb_wiki2023_film_small")
    memory = make_memory("rag", {"chunk_tokens": 64, "chunk_overlap": 8}, seed=0)
    memory.write(spec.corpus(), tiny_model)
    lm = MemoryLM(memory, Reader(tiny_model, batch_size=2), context_budget=128)
    results = lm_eval.simple_evaluate(model=lm, tasks=[spec.name], task_manager=manager, limit=2, bootstrap_iters=10)
    assert {"exact_match,none", "f1,none"} <= set(results["results"][spec.name])


def test_paperqa_scores_each_level_on_its_own_questions(tiny_model):
    import lm_eval

    from baselines import make_memory
    from bench.answer.lm import MemoryLM
    from bench.answer.reader import Reader

    manager = task_manager()
    spec = task_spec(manager, "kmb_paperqa_small")
    assert spec.primary_metric == "rougeL" and len(spec.corpus().documents) == 3
    memory = make_memory("none", {}, seed=0)
    lm = MemoryLM(memory, Reader(tiny_model, batch_size=4))
    out = lm_eval.simple_evaluate(
        model=lm, tasks=[spec.name], task_manager=manager, limit=21, bootstrap_iters=10, log_samples=True
    )
    samples, results = out["samples"][spec.name], out["results"][spec.name]
    for level in (1, 2, 3):
        mine = [s["rougeL"] for s in samples if s["doc"]["level"] == level]
        assert mine and results[f"rougeL_l{level},none"] == pytest.approx(sum(mine) / len(mine))
    assert results["rougeL,none"] == pytest.approx(sum(s["rougeL"] for s in samples) / len(samples))


def test_rouge_and_f1():
    from bench.harness.scoring import rouge_l, token_f1

    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert 0 < rouge_l("a cat sat", "the cat sat on the mat") < 1
    assert token_f1("Paris, France", "paris") == pytest.approx(2 / 3)


def test_one_load_qa_and_short_task_variants():
    """Every task reads its data through the one `load_qa` (named by the shared templates), and a
    task that includes a template adds only its name, tags and metadata."""
    import ast

    from bench.core.paths import PROJECT_ROOT

    shared = PROJECT_ROOT / "bench" / "harness" / "taskdata.py"
    sources = [*TASKS_DIR.rglob("*.py"), shared]
    defined = [
        path
        for path in sources
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "load_qa"
    ]
    assert defined == [shared]
    for path in TASKS_DIR.rglob("*.yaml"):
        lines = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
        hooks = [line for line in lines if line.startswith("custom_dataset:")]
        assert all(line.endswith("!function bench.harness.taskdata.load_qa") for line in hooks), path
        if any(line.startswith("task:") for line in lines) and any(line.startswith("include:") for line in lines):
            assert not hooks and len(lines) <= 12, f"{path} repeats its template ({len(lines)} lines)"
