"""Multi-LoRA modules, every router and merge method, budget matching and hybrids, on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import FACTS, fact_line, head_commit, run_args

from baselines import make_memory, memory_label
from bench.answer.reader import Reader
from bench.core.config import config_dict
from bench.core.errors import UserError
from bench.core.memory import Corpus, Query, Recall, Routing
from bench.model.adapters import MERGES, adapters_active, loaded_adapters, unload_adapters
from bench.parts.modules import split_corpus

FAST = {"epochs": 2, "rank": 4, "batch_size": 4}
QUERIES = [Query(f"What is the phone number of {name}?", f"d{i}") for i, (name, _) in enumerate(FACTS)]


def logits(model, recall: Recall) -> torch.Tensor:
    ids = model.tokenizer(fact_line(*FACTS[0]), return_tensors="pt").input_ids.to(model.device)
    with torch.no_grad(), adapters_active(model, recall) as net:
        return net(input_ids=ids).logits


def test_splits_cover_every_document_once(corpus, tmp_path):
    by_docs = split_corpus(corpus, 3, "documents", len)
    assert [len(p.documents) for p in by_docs] == [2, 2, 2]
    assert [d for p in by_docs for d in p.documents] == list(corpus.documents)
    long = Corpus("c", (corpus.documents[0].__class__("big", "x" * 1000), *corpus.documents[1:]))
    by_tokens = split_corpus(long, 2, "tokens", len)
    assert [len(p.documents) for p in by_tokens] == [1, 5]  # the long document is a part on its own
    partition = tmp_path / "parts.json"
    partition.write_text(json.dumps({d.id: i % 2 for i, d in enumerate(corpus.documents)}))
    by_file = split_corpus(corpus, 0, "file", len, partition)
    assert [[d.id for d in p.documents] for p in by_file] == [["d0", "d2", "d4"], ["d1", "d3", "d5"]]


def test_bad_splits_are_user_errors(corpus, tmp_path):
    with pytest.raises(UserError, match="cannot split 6 documents into 7"):
        split_corpus(corpus, 7, "documents", len)
    partition = tmp_path / "parts.json"
    partition.write_text(json.dumps({"d0": 0}))
    with pytest.raises(UserError, match="no part for 5 document"):
        split_corpus(corpus, 0, "file", len, partition)
    partition.write_text("[1, 2")
    with pytest.raises(UserError, match="not JSON"):
        split_corpus(corpus, 0, "file", len, partition)


def test_bad_configs_are_refused_before_any_training():
    for values, reason in [
        ({"router": "oracle", "top_k": 2}, "exactly one module"),
        ({"modules": 4, "total_rank": 6}, "divide evenly"),
        ({"merge": "average"}, "merge must be one of"),
        ({"router": "psychic"}, "router must be one of"),
        ({"split": "file"}, "go together"),
        ({"weights": "a,b"}, "weights: cannot read 'a' as float"),
    ]:
        with pytest.raises(UserError, match=reason):
            make_memory("multilora", values, seed=0)
    with pytest.raises(UserError, match="at least two parts"):
        make_memory("hybrid", {"parts": ["lora"]}, seed=0)
    with pytest.raises(UserError, match="unknown memory"):
        make_memory("hybrid", {"parts": ["lora", "rga"]}, seed=0)


def test_oracle_routes_each_question_to_its_module(tiny_model, corpus):
    memory = make_memory("multilora", {**FAST, "modules": 3}, seed=0)
    memory.write(corpus, tiny_model)
    outside = [Query("Who won the 1998 World Cup?"), Query("Who wrote Dracula?", gold_doc="not-in-corpus")]
    recalls = memory.recall([*QUERIES, *outside], 0)
    assert [r.adapters for r in recalls[:-2]] == [("m0",), ("m0",), ("m1",), ("m1",), ("m2",), ("m2",)]
    assert all(r.routing.precision == 1.0 for r in recalls[:-2])
    # a question from outside the corpus (the retention probe's) still gets a module, the same every time
    assert all(len(r.adapters) == 1 and r.routing.precision is None for r in recalls[-2:])
    assert memory.recall(outside, 0) == recalls[-2:]
    assert set(loaded_adapters(tiny_model)) == {"m0", "m1", "m2"}
    unload_adapters(tiny_model)


def test_embedding_router_finds_the_module_and_is_scored_against_the_oracle(tiny_model, corpus):
    memory = make_memory("multilora", {**FAST, "modules": 3, "router": "embedding", "top_k": 2}, seed=0)
    memory.write(corpus, tiny_model)
    recalls = memory.recall(QUERIES, 0)
    # each question names its person, whose fact sits in the gold module: a real embedder finds it first
    assert all(r.routing.chosen[0] == r.routing.gold for r in recalls)
    assert all(len(r.routing.chosen) == 2 and r.routing.precision == 0.5 for r in recalls)
    assert all(len(r.adapters) == 2 for r in recalls)  # merge "sum": both modules switched on together
    assert memory.footprint().index_vectors == len(corpus.documents)
    unload_adapters(tiny_model)


@pytest.mark.parametrize("method", MERGES)
def test_every_merge_method_builds_an_adapter_that_changes_the_model(tiny_model, corpus, method):
    memory = make_memory("multilora", {**FAST, "modules": 2, "router": "all", "merge": method}, seed=0)
    memory.write(corpus, tiny_model)
    recall = memory.recall(QUERIES[:1], 0)[0]
    assert recall.routing == Routing(("m0", "m1"), "m0")
    if method == "sum":
        assert recall.adapters == ("m0", "m1")
    else:
        assert recall.adapters[0].startswith(f"{method}-m0-m1-") and recall.adapters[0] in loaded_adapters(tiny_model)
    merged, base = logits(tiny_model, recall), logits(tiny_model, Recall())
    first = logits(tiny_model, Recall(adapters=("m0",)))
    assert not torch.allclose(merged, base) and not torch.allclose(merged, first)
    answers = Reader(tiny_model, batch_size=2).generate([q.text for q in QUERIES[:2]], [recall] * 2, 0, ["\n"], 3)
    assert len(answers) == 2
    unload_adapters(tiny_model)


def test_a_merge_is_keyed_by_its_set_and_weights_not_the_routing_order(tiny_model, corpus):
    from bench.model.adapters import merge_adapters

    memory = make_memory("multilora", {**FAST, "modules": 2, "router": "all", "merge": "linear"}, seed=0)
    memory.write(corpus, tiny_model)
    one = merge_adapters(tiny_model, ("m0", "m1"), "linear", (0.7, 0.3), 0.5)
    assert merge_adapters(tiny_model, ("m1", "m0"), "linear", (0.3, 0.7), 0.5) == one  # the same set, built once
    other = merge_adapters(tiny_model, ("m0", "m1"), "linear", (0.3, 0.7), 0.5)
    assert other != one and {*one, *other} <= set(loaded_adapters(tiny_model))
    unload_adapters(tiny_model)


def test_modules_read_from_disk_per_question_answer_as_preloaded_ones_and_leave_nothing_loaded(
    tiny_model, corpus, monkeypatch
):
    import bench.model.adapters

    prompts = [q.text for q in QUERIES]
    preloaded = make_memory("multilora", {**FAST, "modules": 3}, seed=0)
    preloaded.write(corpus, tiny_model)
    expected = [a.text for a in Reader(tiny_model, 4).generate(prompts, preloaded.recall(QUERIES, 0), 0, ["\n"], 4)]
    unload_adapters(tiny_model)

    on_disk = make_memory("multilora", {**FAST, "modules": 3, "loading": "per_query"}, seed=0)
    assert memory_label(on_disk) == "multilora(batch_size=4,epochs=2,loading=per_query,modules=3,rank=4)"
    on_disk.write(corpus, tiny_model)  # the same modules, from the cache, and none of them loaded
    assert loaded_adapters(tiny_model) == [] and on_disk.folders == preloaded.folders
    reads = []
    real = bench.model.adapters.load_adapter
    monkeypatch.setattr(bench.model.adapters, "load_adapter", lambda lm, n, f: (reads.append(n), real(lm, n, f)))
    recalls = on_disk.recall(QUERIES, 0)
    answers = Reader(tiny_model, 4).generate(prompts, recalls, 0, ["\n"], 4)
    assert [a.text for a in answers] == expected
    assert reads == [r.adapters[0] for r in recalls] == ["m0", "m0", "m1", "m1", "m2", "m2"]  # once per question
    assert tiny_model.peft is None  # each module dropped after its question
    with pytest.raises(UserError, match="cannot merge"):
        make_memory("multilora", {"loading": "per_query", "router": "all", "merge": "ties"}, seed=0)
    # a field added after records existed: left out of the config (run ids, labels) at its default
    assert "loading" not in config_dict(preloaded.config) and config_dict(on_disk.config)["loading"] == "per_query"


def test_budget_matching_gives_k_modules_the_parameters_of_one_adapter(tiny_model, corpus):
    one = make_memory("lora", {**FAST, "rank": 8}, seed=0)
    one.write(corpus, tiny_model)
    unload_adapters(tiny_model)
    many = make_memory("multilora", {**FAST, "modules": 2, "total_rank": 8}, seed=0)
    many.write(corpus, tiny_model)
    assert many.footprint().trainable_params == one.footprint().trainable_params > 0
    assert abs(many.footprint().storage_bytes - one.footprint().storage_bytes) < 0.1 * one.footprint().storage_bytes
    assert memory_label(many) == "multilora(batch_size=4,epochs=2,modules=2,rank=4,total_rank=8)"
    unload_adapters(tiny_model)


def test_hybrid_joins_contexts_and_adapters_within_the_budget(tiny_model, corpus):
    memory = make_memory("hybrid", {"parts": [{"memory": "multilora", **FAST, "modules": 2}, "icl", "rag"]}, seed=0)
    assert memory_label(memory) == "hybrid(parts=multilora(batch_size=4,epochs=2,modules=2,rank=4)+icl+rag)"
    memory.write(corpus, tiny_model)
    for budget in (40, 400):
        recalls = memory.recall(QUERIES[:2], budget)
        assert [r.adapters for r in recalls] == [("m0",), ("m0",)]
        assert all(r.routing.precision == 1.0 for r in recalls)
        assert all(len(tiny_model.tokenizer(r.context).input_ids) <= budget for r in recalls)
    assert recalls[0].context.startswith(fact_line(*FACTS[0]))  # ICL's part first, then RAG's
    fp = memory.footprint()
    assert fp.trainable_params > 0 and fp.index_vectors == len(corpus.documents)
    unload_adapters(tiny_model)


@pytest.fixture
def routed_submission(tiny_model_dir, tmp_path, monkeypatch) -> Path:
    """A real run of the embedding router on PhoneBook 1k (three questions), as a submission."""
    import bench.run.runner
    from bench.board.submission import create_submission
    from bench.cli import main

    config = tmp_path / "routed.yaml"
    config.write_text("memory: multilora\nmodules: 4\nrouter: embedding\nrank: 4\nepochs: 1\n")
    monkeypatch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    out = tmp_path / "runs"
    assert main(run_args(tiny_model_dir, out, "kmb_phonebook_1k", memories=str(config))) == 0
    return create_submission(out, tmp_path / "submissions", "routed", "tests", "2 CPU cores")


def test_router_precision_is_recorded_and_checked_by_the_validator(routed_submission):
    from bench.board.validate import validate_submission
    from bench.run.record import find_records, load_record, samples_path_for

    path = find_records(routed_submission)[0]
    record = load_record(path)
    precision = record.metrics["router_precision"].value
    rows = [json.loads(line) for line in samples_path_for(path).read_text().splitlines()]
    assert precision == sum(r["routing"]["chosen"] == [r["routing"]["gold"]] for r in rows) / 3
    assert validate_submission(routed_submission) == []
    rows[0]["routing"]["gold"] = "m3" if rows[0]["routing"]["gold"] != "m3" else "m2"
    samples_path_for(path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = validate_submission(routed_submission)
    assert any("router_precision is" in p for p in problems)  # the metric no longer matches its rows
    assert any("oracle gold differs from the task data" in p for p in problems)  # gold comes from the task


def test_traits_decide_retention_and_a_hybrid_inherits_its_parts():
    """The runner asks `traits.installs_adapters`, never a placeholder question: an oracle-routed
    multi-LoRA gets its retention probe, and a hybrid with a LoRA part is an adapter memory."""
    assert make_memory("multilora", {}, seed=0).traits.installs_adapters
    hybrid = make_memory("hybrid", {"parts": ["lora", "rag"]}, seed=0)
    assert hybrid.traits.installs_adapters and hybrid.traits.trains_parameters and hybrid.traits.family == "hybrid"
    plain = make_memory("hybrid", {"parts": ["icl", "rag"]}, seed=0)
    assert not plain.traits.installs_adapters and not plain.traits.trains_parameters
    with pytest.raises(UserError, match="at most one adapter memory"):
        make_memory("hybrid", {"parts": ["lora", "multilora"]}, seed=0)


@pytest.mark.parametrize(
    ("weighting", "merge", "peft_merge", "expected"),
    [
        ("study", "linear", "linear", 1 / 3),  # KMBench's first reading, kept for its records
        ("study", "cat", "cat", 1 / 3**0.5),
        ("mean_linear", "linear", "linear", 1 / 3),  # 2_PAPERQA/scripts/04d_evaluate_multilora_merging.py
        ("mean_linear", "cat", "cat", 1.0),
        ("mean_linear", "cat_rsqrt", "cat", 1 / 3**0.5),  # the paper's CAT-1/sqrt(N), a merge of its own
        ("mean_linear", "ties", "ties", 1.0),
        ("mean_linear_ties", "ties", "ties", 1 / 3),  # 3_NQA/scripts/10_evaluate_multilora.py
        ("mean_linear_ties", "cat", "cat", 1.0),
    ],
)
def test_merge_weightings_give_peft_the_study_codes_weights(
    tiny_model, corpus, monkeypatch, weighting, merge, peft_merge, expected
):
    """What peft's `add_weighted_adapter` receives for each named weighting and merge."""
    from peft.tuners.lora.model import LoraModel

    seen = []
    real = LoraModel.add_weighted_adapter

    def spy(self, adapters, weights, adapter_name, combination_type="svd", **kwargs):
        seen.append((combination_type, tuple(weights)))
        return real(self, adapters, weights, adapter_name, combination_type=combination_type, **kwargs)

    monkeypatch.setattr(LoraModel, "add_weighted_adapter", spy)
    values = {**FAST, "modules": 3, "router": "all", "top_k": 3, "merge": merge, "weighting": weighting}
    memory = make_memory("multilora", values, seed=0)
    memory.write(corpus, tiny_model)
    assert seen and seen[0][0] == peft_merge and seen[0][1] == pytest.approx((expected,) * 3)
    assert f"weighting={weighting}" in memory_label(memory)
    assert memory_label(make_memory("multilora", FAST, seed=0)) == memory_label(
        make_memory("multilora", {**FAST, "weighting": "unit"}, seed=0)
    )
    with pytest.raises(UserError, match="either weights or a weighting"):
        make_memory("multilora", {"weights": [0.5, 0.5], "weighting": "study"}, seed=0)
    unload_adapters(tiny_model)
