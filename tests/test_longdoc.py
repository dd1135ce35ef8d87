"""The long-document setting: one text cut inside into token windows with overlap, a module per
window, and the oracle sending each question to the window that holds its document."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import head_commit, run_args

from baselines import make_memory, memory_label
from bench.core.errors import UserError
from bench.core.memory import Corpus, Document, Query
from bench.harness.taskspec import task_manager, task_spec
from bench.model.adapters import unload_adapters
from bench.model.packing import count_tokens
from bench.parts.modules import WINDOW_JOIN, held_documents, split_windows, window_layout, window_owners
from bench.parts.routing import OracleRouter


class Letters:
    """A tokenizer with one token per character, so windows can be checked by eye."""

    def __call__(self, text: str, add_special_tokens: bool = False):
        return type("Encoded", (), {"input_ids": [ord(c) for c in text]})()

    def decode(self, ids: list[int]) -> str:
        return "".join(map(chr, ids))


def distinct(start: int, n: int) -> str:
    """`n` characters never seen elsewhere in a test text, so a window's place can be found."""
    return "".join(chr(start + i) for i in range(n))


CORPUS = Corpus(
    "c", (Document("a", distinct(0x100, 30)), Document("b", distinct(0x200, 8)), Document("c", distinct(0x300, 40)))
)


def test_windows_cut_inside_the_text_with_their_overlap():
    corpus = CORPUS
    windows = split_windows(corpus, 20, 5, Letters())
    joined = WINDOW_JOIN.join(d.contents for d in corpus.documents)  # 30 + 2 + 8 + 2 + 40 = 82 characters
    texts = [w.documents[0].contents for w in windows]
    assert [len(t) for t in texts] == [20, 20, 20, 20, 20, 7]  # windows of 20, the last one what is left
    assert [joined.index(t) for t in texts] == [0, 15, 30, 45, 60, 75]  # each starts 20 - 5 after the last
    assert all(a[-5:] == b[:5] for a, b in itertools.pairwise(texts))  # 5 tokens shared
    assert texts[0] + "".join(t[5:] for t in texts[1:]) == joined  # together, the text once, in order
    # each document belongs to the window with most of its tokens: a = 0..30 (20 in w0, 15 in w1),
    # b = 32..40 (3 in w1, 8 in w2), c = 42..82 (20 in w3 and in w4: the first wins)
    assert [held_documents(w) for w in windows] == [("a",), (), ("b",), ("c",), (), ()]
    assert window_owners(corpus, 20, 5, len) == {"a": 0, "b": 2, "c": 3}


def test_a_short_text_is_one_window_and_spans_count_tokens():
    spans, owners = window_layout([10, 10], 1, 2048, 200)
    assert spans == [(0, 21)] and owners == [0, 0]
    spans, _ = window_layout([1000, 1000], 1, 768, 77)  # the study's smaller cut over 2,001 tokens
    assert [b - a for a, b in spans] == [768, 768, 619] and [a for a, _ in spans] == [0, 691, 1382]


def test_the_oracle_routes_to_the_window_holding_the_document():
    router = OracleRouter(split_windows(CORPUS, 20, 5, Letters()))
    routes = router.route([Query("q", "a"), Query("q", "b"), Query("q", "c")], 1)
    assert routes == [(0,), (2,), (3,)] and router.gold(Query("q", "c")) == 3


def test_window_configs_are_checked():
    memory = make_memory("multilora", {"split": "window", "window_tokens": 768, "window_overlap": 77}, seed=0)
    assert memory_label(memory) == "multilora(split=window,window_overlap=77,window_tokens=768)"
    assert make_memory("multilora", {"split": "window", "top_k": 6, "router": "embedding"}, seed=0)  # K is the text's
    with pytest.raises(UserError, match="window_overlap must be in"):
        make_memory("multilora", {"split": "window", "window_tokens": 100, "window_overlap": 100}, seed=0)
    with pytest.raises(ValueError, match="split_windows"):
        from bench.parts.modules import split_corpus

        split_corpus(Corpus("c", (Document("a", "x"),)), 1, "window", len)


def test_a_module_per_window_on_the_tiny_model(tiny_model, corpus):
    """Window modules are trained and routed; the oracle's gold agrees with the counts-only split."""
    config = {"split": "window", "window_tokens": 40, "window_overlap": 8, "rank": 4, "max_steps": 1}
    memory = make_memory("multilora", config, seed=0)
    memory.write(corpus, tiny_model)
    tok = tiny_model.tokenizer
    total = sum(count_tokens(tok, d.contents) for d in corpus.documents) + 5 * count_tokens(tok, WINDOW_JOIN)
    assert len(memory.folders) == len(window_layout([total], 0, 40, 8)[0]) > 1
    owners = memory.module_of(corpus, lambda text: count_tokens(tok, text))
    queries = [Query("q", d.id) for d in corpus.documents]
    recalls = memory.recall(queries, 0)
    assert [r.routing.gold for r in recalls] == [owners[d.id] for d in corpus.documents]
    assert all(r.adapters == (r.routing.gold,) for r in recalls)
    unload_adapters(tiny_model)


def test_a_window_run_validates_with_its_oracle_rederived(tiny_model_dir, tmp_path, monkeypatch):
    import bench.run.runner
    from bench.board.submission import create_submission
    from bench.board.validate import validate_submission
    from bench.cli import main
    from bench.run.record import find_records, load_record, samples_path_for

    config = tmp_path / "windows.yaml"
    config.write_text(
        "memory: multilora\nsplit: window\nwindow_tokens: 400\nwindow_overlap: 40\nrank: 2\nmax_steps: 1\n"
    )
    monkeypatch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    out = tmp_path / "runs"
    assert main(run_args(tiny_model_dir, out, "kmb_phonebook_1k", memories=str(config))) == 0
    folder = create_submission(out, tmp_path / "submissions", "windows", "tests", "2 CPU cores")
    assert validate_submission(folder) == []
    path = find_records(folder)[0]
    assert load_record(path).memory.config["split"] == "window"
    rows = [json.loads(line) for line in samples_path_for(path).read_text().splitlines()]
    rows[0]["routing"]["gold"] = "m0" if rows[0]["routing"]["gold"] != "m0" else "m1"
    samples_path_for(path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert any("oracle gold differs" in p for p in validate_submission(folder))


def test_the_long_document_tasks_are_the_study_document_in_sections():
    manager = task_manager()
    full, study = task_spec(manager, "kmb_paperqa_longdoc"), task_spec(manager, "kmb_paperqa_study_all")
    small = task_spec(manager, "kmb_paperqa_longdoc_small")
    docs = full.corpus().documents
    assert [d.id for d in docs] == [f"paper{i}" for i in range(15)] and len(small.corpus().documents) == 3
    assert docs == study.corpus().documents and full.primary_metric == "rougeL" and full.judged
    text = WINDOW_JOIN.join(d.contents for d in docs)
    assert text.count(" discusses:\n\n") == 15 and text.startswith("This paper 0 discusses:\n\n")
