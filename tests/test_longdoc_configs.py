"""The study's Q13 and Q14 on the long document (baselines/configs/q13_longdoc_topk.yaml and
q14_longdoc_hybrids.yaml): every entry is the study's protocol on windows and the study preset runs
it; on the tiny model, with the windows scaled to its short document and one training step, top 3
really merges three window modules by TIES where top 1 switches one on, and a hybrid's multi-LoRA
part trains on windows cut inside the document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import baselines.multilora
from baselines import make_memory
from bench.cli import read_memory_file
from bench.core.config import config_dict
from bench.core.errors import UserError
from bench.core.memory import Query
from bench.model.adapters import loaded_adapters, unload_adapters
from bench.model.packing import count_tokens
from bench.parts.modules import WINDOW_JOIN, Window, window_owners
from bench.study.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[1]
Q13 = read_memory_file(ROOT / "baselines/configs/q13_longdoc_topk.yaml")
Q14 = read_memory_file(ROOT / "baselines/configs/q14_longdoc_hybrids.yaml")
STUDY_WINDOWS = {(2048, 200), (768, 77)}  # the study's cuts: tokens per window, tokens shared
TINY = {"window_tokens": 40, "window_overlap": 8, "max_steps": 1}  # the tiny corpus (~180 tokens): 6 windows
QUESTIONS = [Query(f"What is the phone number of {name}?", f"d{i}") for i, name in enumerate(["Ada Stone", "Ed Vale"])]


def tiny(values: dict[str, Any]) -> dict[str, Any]:
    """An entry as the tiny model runs it: windows of its short document, one training step."""
    if "parts" in values:
        parts = [tiny(p) if isinstance(p, dict) and p["memory"] == "multilora" else p for p in values["parts"]]
        return {**values, "parts": parts}
    return {**values, **TINY}


def window_part(values: dict[str, Any]) -> dict[str, Any]:
    """A hybrid's multi-LoRA part (a hybrid holds at most one adapter memory)."""
    (part,) = [p for p in values["parts"] if isinstance(p, dict) and p["memory"] == "multilora"]
    return part


def identity(name: str, values: dict[str, Any]) -> tuple[str, str]:
    """A memory as its run id sees it: the name and the built config, every field resolved."""
    return name, json.dumps(config_dict(make_memory(name, values, 0).config), sort_keys=True)


def check_study_windows(values: dict[str, Any]) -> None:
    """Q12's window modules (rank 16, the study's profile and cuts), routed by sentence embeddings."""
    assert values["profile"] == "study" and values["rank"] == 16 and values["split"] == "window"
    assert (values["window_tokens"], values["window_overlap"]) in STUDY_WINDOWS and values["router"] == "embedding"


def test_q13_is_top_1_against_top_3_merged_by_ties_at_each_window_size():
    assert {name for name, _ in Q13} == {"multilora"}
    for _, values in Q13:
        check_study_windows(values)
        memory = make_memory("multilora", values, seed=0)
        assert memory.config.max_steps == 1500  # the profile's
        if values["top_k"] == 3:  # TIES over the top 3 at 1/N each, as 3_NQA/scripts/10_evaluate_multilora.py
            assert (memory.config.merge, memory.config.density) == ("ties", 0.5)
            assert memory.config.weighting == "mean_linear_ties"
        else:
            assert values["top_k"] == 1 and "merge" not in values  # Q12's embedding row: one module, no merge
    rows = {(v["window_tokens"], v["window_overlap"], v["top_k"]) for _, v in Q13}
    assert rows == {(*w, k) for w in STUDY_WINDOWS for k in (1, 3)}


def test_q14_is_the_routed_window_with_icl_and_with_rag():
    assert {name for name, _ in Q14} == {"hybrid"}
    others = []
    for _, values in Q14:
        check_study_windows(window_part(values))
        assert all(isinstance(p, dict) and p["profile"] == "study" for p in values["parts"])  # each part's own
        others += [p["memory"] for p in values["parts"] if p["memory"] != "multilora"]
        memory = make_memory("hybrid", values, seed=0)
        assert memory.traits.routes and memory.parts[0].config.weighting == "mean_linear"  # the profile's
    assert sorted(others) == ["icl", "rag"]


def test_the_study_preset_runs_every_entry_on_the_long_document_in_the_chat_template(monkeypatch):
    """Same built config, same run id: a sweep runs each row once, and Q13's top 1 is Q12's row."""
    monkeypatch.chdir(ROOT)
    cells = load_sweep(ROOT / "bench/study/presets/study.yaml").cells()
    built = {identity(c.memory, c.config) for c in cells if "kmb_paperqa_longdoc" in c.tasks and c.chat_template}
    for name, values in Q13 + Q14:
        assert identity(name, values) in built, values


def test_top_3_merges_three_window_modules_by_ties_and_top_1_switches_one_on(tiny_model, corpus, monkeypatch):
    merges = []
    real = baselines.multilora.merge_adapters

    def spy(model, names, how, weights, density):
        merges.append((names, how, tuple(weights), density))
        return real(model, names, how, weights, density)

    monkeypatch.setattr(baselines.multilora, "merge_adapters", spy)
    for _, values in Q13:
        merges.clear()
        memory = make_memory("multilora", tiny(values), seed=0)
        memory.write(corpus, tiny_model)
        assert len(memory.folders) == 6  # one module per tiny window, whichever cut the entry names
        recalls = memory.recall(QUESTIONS, 0)
        for recall in recalls:
            chosen = recall.routing.chosen
            assert len(set(chosen)) == len(chosen) == values["top_k"]
            if values["top_k"] == 1:
                assert recall.adapters == chosen  # the module itself: nothing merged
            else:
                assert recall.adapters[0].startswith("-".join(("ties", *sorted(chosen), "")))  # keyed by the set
                assert recall.adapters[0] in loaded_adapters(tiny_model)
                assert (chosen, "ties", pytest.approx((1 / 3,) * 3), 0.5) in merges  # 1/N each, as 3_NQA weights TIES
        assert {len(names) for names, *_ in merges} == {values["top_k"]}  # top 1 passes its one module through
        unload_adapters(tiny_model)


def test_top_3_of_fewer_windows_is_refused_before_any_training(tiny_model, corpus, monkeypatch):
    """kmb_paperqa_longdoc_small has two 2,048-token windows: a top 3 fails at once, not after training."""
    trained = []
    monkeypatch.setattr(baselines.multilora, "trained_adapter", lambda *args: trained.append(args))
    (values,) = [v for _, v in Q13 if v["top_k"] == 3 and v["window_tokens"] == 2048]
    memory = make_memory("multilora", {**tiny(values), "window_tokens": 150, "window_overlap": 15}, seed=0)
    with pytest.raises(UserError, match="top_k 3 exceeds the 2 modules"):
        memory.write(corpus, tiny_model)
    assert trained == []


@pytest.mark.parametrize("index", range(len(Q14)), ids=lambda i: Q14[i][1]["parts"][1]["memory"])
def test_a_hybrid_trains_its_modules_on_windows_cut_inside_the_document(tiny_model, corpus, monkeypatch, index):
    parts = []
    real = baselines.multilora.trained_adapter

    def spy(part, *rest):
        parts.append(part)
        return real(part, *rest)

    monkeypatch.setattr(baselines.multilora, "trained_adapter", spy)
    memory = make_memory("hybrid", tiny(Q14[index][1]), seed=0)
    memory.write(corpus, tiny_model)
    text = WINDOW_JOIN.join(d.contents for d in corpus.documents)
    windows = [p.documents[0].contents for p in parts]
    assert all(isinstance(p, Window) and len(p.documents) == 1 for p in parts) and len(parts) == 6
    assert all(w in text for w in windows)  # pieces of the one text ...
    assert sum(WINDOW_JOIN in w for w in windows) >= 2  # ... cut across its documents, not along them
    assert not set(windows) & {d.contents for d in corpus.documents}
    count = lambda t: count_tokens(tiny_model.tokenizer, t)  # noqa: E731
    owners = window_owners(corpus, TINY["window_tokens"], TINY["window_overlap"], count)
    assert memory.module_of(corpus, count) == {d: f"m{k}" for d, k in owners.items()}
    for budget in (300, 800):  # the study's instruction and its 512-token chunks need room
        for recall in memory.recall(QUESTIONS, budget):
            assert recall.adapters == recall.routing.chosen and len(recall.adapters) == 1  # the routed window
            assert recall.context and count(recall.context) <= budget  # and the context part's text
    unload_adapters(tiny_model)
