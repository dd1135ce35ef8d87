"""CounterFact: the committed data is the study's statements cut at the object, and both of its
scores (generated new object, first-choice efficacy) run through `kmbench run` and re-score."""

from __future__ import annotations

import json

import pytest
from conftest import head_commit, run_args, task_utils

from bench.core.paths import TASKS_DIR
from bench.harness.taskdata import jsonl_dataset
from bench.harness.taskspec import expand_tasks, task_manager, task_spec

SIZES = ["1k", "2k", "4k", "8k", "20k"]


def test_tags_list_the_small_set_and_every_size():
    manager = task_manager()
    assert expand_tasks(manager, ["kmb_counterfact"]) == ["kmb_counterfact_1k", "kmb_counterfact_1k_efficacy"]
    assert expand_tasks(manager, ["kmb_counterfact_sizes"]) == [
        f"kmb_counterfact_{s}{suffix}" for s in SIZES for suffix in ("", "_efficacy")
    ]


def test_prompts_are_statements_cut_before_a_one_word_object_and_sizes_are_nested():
    manager = task_manager()
    previous: list[str] = []
    for size in SIZES:
        docs = [d.contents for d in task_spec(manager, f"kmb_counterfact_{size}").corpus().documents]
        assert docs[: len(previous)] == previous and len(docs) > len(previous)
        previous = docs
        qa = jsonl_dataset(f"data/{size}_qa.jsonl", TASKS_DIR / "kmb_counterfact")["test"]
        assert [f"{q['prompt']} {q['new']}" for q in qa] == docs
        assert all(q["subject"] in q["prompt"] and " " not in q["new"] and q["old"] != q["new"] for q in qa)
    assert len(previous) == 2154


def test_the_cut_refuses_a_statement_without_its_subject():
    from tasks.kmb_counterfact.build import cut_statements

    assert cut_statements([("Lenta.ru is written in Italian", "Lenta.ru")])[0].prompt == "Lenta.ru is written in"
    with pytest.raises(ValueError, match="subject"):
        cut_statements([("Paris is in Asia", "Lenta.ru")])


@pytest.mark.parametrize(
    ("response", "score"),
    [(" Italian", 1.0), ("Italian, and", 1.0), (" the Italian language", 1.0), (" not Italian", 0.0), ("", 0.0)],
)
def test_generation_is_scored_by_the_first_word(response, score):
    assert task_utils("kmb_counterfact").process_generation({"new": "Italian"}, [response]) == {"exact_match": score}


def test_efficacy_compares_new_and_old_likelihoods():
    utils = task_utils("kmb_counterfact")
    assert utils.process_efficacy({}, [(-1.0, False), (-2.0, True)]) == {"efficacy": 1.0}
    assert utils.process_efficacy({}, [[-2.0, False], [-2.0, True]]) == {"efficacy": 0.0}


def test_counterfact_runs_with_forgetting_and_validates(tiny_model_dir, tmp_path, monkeypatch):
    import bench.run.runner
    from bench.board.submission import create_submission
    from bench.board.validate import validate_submission
    from bench.cli import main
    from bench.run.record import find_records, load_record

    monkeypatch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    out = tmp_path / "runs"
    args = run_args(
        tiny_model_dir, out, "kmb_counterfact", "--set", "lora.epochs=1", "--set", "lora.rank=2", memories="none,lora"
    )
    assert main(args) == 0
    records = {(r.task.name, r.memory.name): r for r in map(load_record, find_records(out))}
    assert set(records) == {
        (t, m) for t in ("kmb_counterfact_1k", "kmb_counterfact_1k_efficacy") for m in ("none", "lora")
    }
    assert "efficacy" in records["kmb_counterfact_1k_efficacy", "lora"].metrics
    assert records["kmb_counterfact_1k", "none"].forgetting is None  # no adapter, no probe
    probe = records["kmb_counterfact_1k", "lora"].forgetting
    questions = len(jsonl_dataset("data/qa.jsonl", TASKS_DIR / "kmb_forgetting")["test"])
    assert probe is not None and len(probe.base_answers) == len(probe.memory_answers) == questions

    folder = create_submission(out, tmp_path / "submissions", "tiny-cf", "KMBench tests", "2 CPU cores")
    assert validate_submission(folder) == []
    efficacy = next(p for p in find_records(folder) if "efficacy" in str(p) and p.name.startswith("lora"))
    data = json.loads(efficacy.read_text())
    data["metrics"]["efficacy"]["value"] = 1.0 - data["metrics"]["efficacy"]["value"] + 0.01
    efficacy.write_text(json.dumps(data))
    lora = next(p for p in find_records(folder) if "efficacy" not in str(p) and p.name.startswith("lora"))
    data = json.loads(lora.read_text())
    data["forgetting"]["retained"] += 1
    lora.write_text(json.dumps(data))
    problems = validate_submission(folder)
    assert any("efficacy is" in p for p in problems)
    assert any("forgetting says" in p for p in problems)


def test_the_studys_twenty_sizes_are_prefixes_scored_by_efficacy():
    from lm_eval.tasks import get_task_dict

    from bench.harness.taskspec import expand_tasks, task_manager, task_spec

    manager = task_manager()
    names = expand_tasks(manager, ["kmb_counterfact_study"])
    assert len(names) == 20 and names[0] == "kmb_counterfact_study_1k" and names[-1] == "kmb_counterfact_study_20k"
    study = task_spec(manager, "kmb_counterfact_study_2k")
    assert study.primary_metric == "efficacy" and len(study.corpus().documents) == 215
    # the 2K study set is the committed 2k task's set: same edits, same order
    assert study.corpus().documents == task_spec(manager, "kmb_counterfact_2k").corpus().documents
    docs = list(get_task_dict(["kmb_counterfact_study_3k"], manager)["kmb_counterfact_study_3k"].test_docs())
    assert len(docs) == 323
