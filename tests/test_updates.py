"""Updates: a memory writes a book, then takes its next version in its own way (kmb_phonebook_2k_update)."""

from __future__ import annotations

import json

import pytest
from conftest import fact_line, head_commit, run_args, task_utils

from baselines import make_memory
from bench.board.submission import create_submission
from bench.board.validate import validate_submission
from bench.cli import main
from bench.core.config import config_dict
from bench.core.memory import Corpus, Document, Query
from bench.harness.taskspec import task_manager, task_spec
from bench.model.adapters import unload_adapters
from bench.run.record import find_records

LORA = {"epochs": 2, "rank": 4, "batch_size": 4}


def new_version(corpus: Corpus) -> Corpus:
    """The tiny book with one number changed, one person gone and one arrived."""
    docs = list(corpus.documents)
    docs[0] = Document(docs[0].id, fact_line("Ada Stone", "999-999-9999"))
    del docs[1]
    docs.append(Document("new0", fact_line("Eli Park", "222-333-4444")))
    return Corpus("tiny-v2", tuple(docs))


def test_the_update_task_changes_a_quarter_and_swaps_a_tenth_of_the_2k_book():
    from tasks.kmb_phonebook.probes import read_entries
    from tasks.kmb_phonebook.update import next_version

    spec = task_spec(task_manager(), "kmb_phonebook_2k_update")
    old, new = spec.previous_corpus(), spec.corpus()
    assert old.sha256 == task_spec(task_manager(), "kmb_phonebook_2k").corpus().sha256  # the 2k adapter serves
    assert len(old.documents) == len(new.documents) == 73 and spec.primary_metric == "update_match"
    documents, questions = next_version(read_entries("phonebook_2k"))
    assert [d["contents"] for d in documents] == [d.contents for d in new.documents]  # the committed files
    kinds = [q["kind"] for q in questions]
    assert {k: kinds.count(k) for k in set(kinds)} == {"changed": 18, "removed": 7, "added": 7, "unchanged": 48}
    old_text = {d.id: d.contents for d in old.documents}
    new_text = {d.id: d.contents for d in new.documents}
    for q in questions:
        if q["kind"] == "changed":  # same id, new number
            assert q["old"] in old_text[q["id"]] and q["answer"] in new_text[q["id"]] and q["old"] != q["answer"]
        elif q["kind"] == "removed":
            assert q["id"] in old_text and q["id"] not in new_text and q["answer"] == "unknown"
        elif q["kind"] == "added":
            assert q["id"] not in old_text and q["name"] not in "".join(old_text.values())
        else:
            assert old_text[q["id"]] == new_text[q["id"]]
    assert len(new.changed_since(old).documents) == 18 + 7


def test_update_scores_count_each_kind_of_person_apart():
    utils = task_utils("kmb_phonebook")
    changed = {"kind": "changed", "answer": "111-111-1111", "old": "222-222-2222"}
    assert utils.process_update(changed, [" 222-222-2222"]) == {"update_match": 0.0, "changed_match": 0.0, "stale": 1.0}
    assert utils.process_update(changed, [" 111-111-1111"]) == {"update_match": 1.0, "changed_match": 1.0, "stale": 0.0}
    removed = {"kind": "removed", "answer": "unknown", "old": "222-222-2222"}
    assert utils.process_update(removed, [" Unknown."]) == {
        "update_match": 1.0,
        "removed_abstain": 1.0,
        "removed_stale": 0.0,
    }
    assert utils.process_update(removed, [" 222-222-2222"])["removed_stale"] == 1.0
    added = {"kind": "added", "answer": "333-333-3333", "old": ""}
    assert utils.process_update(added, [" 333-333-3333"]) == {"update_match": 1.0, "added_match": 1.0}


def test_rag_embeds_only_what_changed_and_forgets_who_left(tiny_model, corpus):
    new = new_version(corpus)
    memory = make_memory("rag", {"top_k": 1}, seed=0)
    memory.write(corpus, tiny_model)
    cost = memory.update(corpus, new, tiny_model)
    assert cost.index_vectors == 2  # Ada Stone's new line and Eli Park's; nothing else re-embedded
    rebuilt = make_memory("rag", {"top_k": 1}, seed=0)
    rebuilt.write(new, tiny_model)
    assert sorted(memory._chunks) == sorted(rebuilt._chunks) and memory.footprint() == rebuilt.footprint()
    found = memory.recall([Query("What is the phone number of Ada Stone?")], 100)[0].context
    assert "999-999-9999" in found
    gone = corpus.documents[1].contents
    assert all(gone not in r.context for r in memory.recall([Query(d.contents) for d in corpus.documents], 100))


def test_lora_updates_by_retraining_continuing_or_keeping(tiny_model, corpus):
    new = new_version(corpus)
    folders = {}
    for update in ("retrain", "continue", "keep"):
        memory = make_memory("lora", {**LORA, "update": update}, seed=0)
        memory.write(corpus, tiny_model)
        first = memory.folder
        unload_adapters(tiny_model)
        cost = memory.update(corpus, new, tiny_model)
        folders[update] = (first, memory.folder, cost)
        unload_adapters(tiny_model)
    firsts = {first for first, _, _ in folders.values()}
    assert len(firsts) == 1  # how an update is taken does not change the first version's adapter
    (first,) = firsts
    retrained, continued, kept = (folders[u][1] for u in ("retrain", "continue", "keep"))
    assert kept == first and folders["keep"][2].write_tokens == 0
    assert len({first, retrained, continued}) == 3
    # continuing trains on the two changed lines only: fewer tokens than retraining on the whole book
    assert 0 < folders["continue"][2].write_tokens < folders["retrain"][2].write_tokens
    retrain_log = json.loads((retrained / "kmbench_train.json").read_text())
    assert retrain_log["training_documents"] == len(new.documents)


def test_an_update_field_at_its_default_keeps_every_older_run_id():
    lora = make_memory("lora", {}, seed=0)
    assert "update" not in config_dict(lora.config)
    assert config_dict(make_memory("lora", {"update": "keep"}, seed=0).config)["update"] == "keep"
    with pytest.raises(Exception, match="multilora updates"):
        make_memory("multilora", {"update": "continue"}, seed=0)


def test_an_update_run_records_both_books_and_its_cost_and_validates(tiny_model_dir, tmp_path, monkeypatch):
    import bench.run.runner

    monkeypatch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    config = tmp_path / "stale.yaml"  # a stale adapter beside a fresh index: which one wins a conflict
    config.write_text(
        "memory: hybrid\nparts:\n  - {memory: lora, epochs: 1, rank: 2, batch_size: 16, update: keep}\n  - rag\n"
    )
    out = tmp_path / "runs"
    settings = ("--set", "lora.epochs=1", "--set", "lora.rank=2", "--set", "lora.update=continue")
    memories = f"none,rag,lora,{config}"
    args = run_args(tiny_model_dir, out, "kmb_phonebook_2k_update", *settings, memories=memories, limit=4)
    assert main(args) == 0
    records = {json.loads(p.read_text())["memory"]["label"]: json.loads(p.read_text()) for p in find_records(out)}
    spec = task_spec(task_manager(), "kmb_phonebook_2k_update")
    assert {r["task"]["previous_corpus_sha256"] for r in records.values()} == {spec.previous_corpus().sha256}
    lora = next(r for label, r in records.items() if label.startswith("lora"))
    assert "update=continue" in lora["memory"]["label"] and lora["cost"]["update_tokens"] > 0
    assert lora["cost"]["update_tokens"] < lora["cost"]["write_tokens"]  # 25 of 73 lines trained on again
    assert records["rag"]["cost"]["update_tokens"] < records["rag"]["cost"]["write_tokens"]
    assert {"update_match", "changed_match", "stale", "unchanged_match"} <= set(lora["metrics"])
    folder = create_submission(out, tmp_path / "submissions", "tiny-update", "KMBench tests", "2 CPU cores")
    assert validate_submission(folder) == []
    rec = next(p for p in find_records(folder) if p.name.startswith("rag"))
    data = json.loads(rec.read_text())
    data["task"]["previous_corpus_sha256"] = None  # claims it was a plain write of the new book
    rec.write_text(json.dumps(data))
    assert any("previous corpus" in p for p in validate_submission(folder))


def test_the_report_shows_each_kind_of_person_and_the_update_beside_a_full_write():
    from bench.core.paths import PROJECT_ROOT
    from bench.report.tables import load_table
    from bench.report.updates import updates_markdown

    text = updates_markdown(load_table(PROJECT_ROOT / "leaderboard" / "reference" / "updates"))
    header = next(line for line in text.splitlines() if line.startswith("| model"))
    assert "stale % ↓" in header and "removed_abstain %" in header and header.endswith("update s | full write s |")
    kept = next(line for line in text.splitlines() if "`lora(update=keep)`" in line).split(" | ")
    assert kept[header.split(" | ").index("update s")] == "0.0"  # a kept adapter costs nothing to update
    assert updates_markdown(load_table(PROJECT_ROOT / "leaderboard" / "reference" / "bench")) == ""


def test_multilora_retrains_only_the_modules_whose_documents_changed(tiny_model, corpus):
    docs = list(corpus.documents)
    docs[-1] = Document(docs[-1].id, fact_line("Fay Quill", "999-000-1111"))  # the last module's line only
    new = Corpus("tiny-v2", tuple(docs))
    config = {**LORA, "modules": 2, "router": "oracle"}
    memory = make_memory("multilora", config, seed=0)
    memory.write(corpus, tiny_model)
    before = memory.folders
    unload_adapters(tiny_model)
    cost = memory.update(corpus, new, tiny_model)
    after = memory.folders
    assert after[0] == before[0] and after[1] != before[1]  # the untouched module is the cached adapter
    one_module = json.loads((after[1] / "kmbench_train.json").read_text())
    assert cost.write_tokens == one_module["tokens"] and cost.trainable_params == one_module["trainable_params"]
    unload_adapters(tiny_model)
    kept = make_memory("multilora", {**config, "update": "keep"}, seed=0)
    kept.write(corpus, tiny_model)
    unload_adapters(tiny_model)
    assert kept.update(corpus, new, tiny_model).write_tokens == 0 and kept.folders == before
    unload_adapters(tiny_model)
