"""Defaults chosen on held-out data: the rule, the command on a tiny model, the held-out tasks, and the
committed record, which every memory's code defaults must match."""

from __future__ import annotations

import filecmp
import json

import pytest

from bench.cli import main
from bench.core.config import config_dict
from bench.core.errors import UserError
from bench.core.paths import PROJECT_ROOT, TASKS_DIR
from bench.harness.taskspec import expand_tasks, task_manager, task_spec
from bench.report.selection import Candidate, Rule, load_selection_record, selection_markdown, winner_of
from bench.run.memories import MEMORIES, memory_class
from bench.study.select import default_mismatches, load_selection

RECORD = PROJECT_ROOT / "leaderboard/reference/selection/defaults.json"
# Registered memories the record does not choose for, and why (a new memory with knobs must be added to
# bench/study/selection.yaml, or here with its reason).
NOT_SELECTED = {
    "multilora": "trains each module like lora (its inherited defaults are checked against lora's winner); "
    "its routing and merging fields are what the study compares, named by every run",
    "hybrid": "no defaults: every run names its parts",
    "dcd": "lora's config with objective dcd (its inherited defaults are lora's winner); the distillation "
    "settings are the study's (src/trainers/dcd_trainer.py), not chosen here",
}


def candidate(score: float, cost: float, **knobs) -> Candidate:
    return Candidate(knobs, dict(knobs), {"t": score}, score, cost, [])


def test_rule_takes_the_best_score_then_the_lowest_cost_then_the_first():
    rule = Rule()
    assert winner_of([candidate(0.5, 1, k=1), candidate(0.9, 9, k=2), candidate(0.8, 0, k=3)], rule).knobs == {"k": 2}
    assert winner_of([candidate(0.9, 9, k=1), candidate(0.9, 2, k=2), candidate(0.9, 2, k=3)], rule).knobs == {"k": 2}
    loose = Rule(tolerance=0.1)
    assert winner_of([candidate(0.9, 9, k=1), candidate(0.85, 2, k=2)], loose).knobs == {"k": 2}
    with pytest.raises(ValueError, match="unknown column"):
        Rule(cost=("write_seconds", "bogus"))


GRID = """
name: pick
models: [{model}]
tasks: [kmb_tiny_heldout, kmb_tiny_heldout_b]
limit: 3
memories:
  - none
  - {{memory: rag, tasks: [kmb_tiny_heldout], grid: {{top_k: [2, 1]}}}}
rule: {{cost: [context_tokens_per_query]}}
"""


def test_select_runs_the_grid_and_records_the_winners(tiny_model_dir, tiny_task_dir, tmp_path, capsys):
    text = (tiny_task_dir / "kmb_tiny.yaml").read_text().replace("include:", "tag: kmb_heldout\ninclude:", 1)
    for name in ("kmb_tiny_heldout", "kmb_tiny_heldout_b"):  # two held-out tasks over the same six facts
        (tiny_task_dir / f"{name}.yaml").write_text(text.replace("task: kmb_tiny", f"task: {name}"))
    grid = tmp_path / "pick.yaml"
    grid.write_text(GRID.format(model=tiny_model_dir))
    record_path = tmp_path / "defaults.json"
    args = ["select", str(grid), "--out", str(tmp_path / "runs"), "--record", str(record_path)]
    assert main([*args, "--include-path", str(tiny_task_dir)]) == 0
    record = load_selection_record(record_path)
    assert [t.name for t in record.tasks] == ["kmb_tiny_heldout", "kmb_tiny_heldout_b"]
    assert {t.n_queries for t in record.tasks} == {3}
    none, rag = record.memories
    assert none.knobs == [] and none.winner == {} and len(none.candidates) == 1 and len(none.tasks) == 2
    assert rag.tasks == ["kmb_tiny_heldout"] and all(list(c.scores) == rag.tasks for c in rag.candidates)
    assert rag.knobs == ["top_k"] and [c.knobs for c in rag.candidates] == [{"top_k": 2}, {"top_k": 1}]
    assert rag.winner == winner_of(rag.candidates, record.rule).knobs
    assert all(len(c.run_ids) == 1 and c.config["top_k"] == c.knobs["top_k"] for c in rag.candidates)
    assert "| `rag` | top_k=1 | 0.0 | – |" in selection_markdown(record)  # a task it did not run on: –
    # a second run resumes: every run is skipped, the same winners come out
    assert main([*args, "--include-path", str(tiny_task_dir)]) == 0
    assert load_selection_record(record_path).memories == record.memories
    capsys.readouterr()


def test_a_selection_on_evaluated_tasks_is_refused(tmp_path, tiny_model_dir):
    grid = tmp_path / "pick.yaml"
    grid.write_text(GRID.format(model=tiny_model_dir).replace("kmb_tiny_heldout", "kmb_phonebook_1k"))
    assert main(["select", str(grid), "--out", str(tmp_path / "runs"), "--record", str(tmp_path / "r.json")]) == 2
    assert not (tmp_path / "runs").exists() and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    ("edit", "replacement", "reason"),
    [
        ("rule: {{cost: [context_tokens_per_query]}}", "rule: {{cost: [sometimes]}}", "unknown column"),
        ("models: [{model}]", "models: [a, b]", "one model"),
        ("  - none", "  - {{memory: icl, budgets: [64]}}", "run settings"),
        ("  - none", "  - {{memory: icl, limit: 4}}", "same questions"),
    ],
)
def test_bad_selection_files_are_user_errors(tmp_path, edit, replacement, reason):
    path = tmp_path / "pick.yaml"
    path.write_text(GRID.replace(edit, replacement).format(model="m"))
    with pytest.raises(UserError, match=reason):
        load_selection(path)


def test_the_committed_selection_ran_on_the_held_out_tasks_as_they_are_now():
    """The committed selection ran on the held-out tasks as they are now, and only on them."""
    sweep, rule = load_selection(PROJECT_ROOT / "bench/study/selection.yaml")
    record = load_selection_record(RECORD)
    assert [t.name for t in record.tasks] == list(sweep.tasks) and record.rule == rule
    manager = task_manager()
    assert set(expand_tasks(manager, ["kmb_heldout"])) == set(sweep.tasks)
    for task in record.tasks:
        spec = task_spec(manager, task.name)
        assert spec.corpus().sha256 == task.corpus_sha256, f"{task.name} changed since the selection: rerun it"
        assert manager.task_index[task.name].tags == {"kmb_heldout"}, "a held-out task must never join a bench tag"


def test_code_defaults_are_the_selected_ones():
    """Fails when a default differs from the config that won on held-out data (rerun `make select`,
    or change the default to the winner) and when a winner does not follow the record's own rule."""
    record = load_selection_record(RECORD)
    assert default_mismatches(record) == []
    for selection in record.memories:
        assert selection.winner == winner_of(selection.candidates, record.rule).knobs, selection.memory
    chosen = {m.memory for m in record.memories}
    assert chosen | set(NOT_SELECTED) == set(MEMORIES), "every memory is selected, or says here why not"
    lora = record.memory("lora")
    assert lora is not None
    multilora = config_dict(memory_class("multilora").config_class())
    assert {k: multilora[k] for k in lora.winner} == lora.winner


def test_heldout_data_rebuilds_and_shares_nothing_with_evaluated_tasks(tmp_path):
    from tasks.heldout.build import build
    from tasks.kmb_phonebook.build import fresh_book, read_book

    build(tmp_path)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert filecmp.cmp(path, TASKS_DIR / "heldout" / path.relative_to(tmp_path), shallow=False), path
    held = [json.loads(line) for line in (TASKS_DIR / "heldout/data/phonebook_qa.jsonl").read_text().splitlines()]
    assert [(r["name"], r["answer"]) for r in held] == [(e.name, e.phone) for e in fresh_book(48, 1001)]
    assert not {r["name"] for r in held} & {e.name for e in read_book()}  # every kmb_phonebook task is this book
    shipped = (TASKS_DIR / "kmb_counterfact/data/20k_corpus.jsonl").read_text()
    statements = {json.loads(line)["contents"] for line in shipped.splitlines()}
    edits = (TASKS_DIR / "heldout/data/counterfact_corpus.jsonl").read_text().splitlines()
    assert len(edits) == 48 and not {json.loads(line)["contents"] for line in edits} & statements
