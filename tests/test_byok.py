"""Bring your own knowledge: a corpus and a QA file become an lm-eval task; bad lines are named."""

from __future__ import annotations

import json

import pytest
from conftest import FACTS, fact_line, run_args

from bench.cli import main
from bench.core.errors import UserError
from bench.harness.scoring import qa_scores
from bench.harness.taskdata import read_qa, write_byok_task


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def byok_files(tmp_path):
    corpus = write_jsonl(
        tmp_path / "docs.jsonl", [{"id": f"d{i}", "contents": fact_line(n, p)} for i, (n, p) in enumerate(FACTS)]
    )
    qa = write_jsonl(
        tmp_path / "my_qa.jsonl",
        [
            {"id": f"q{i}", "question": f"What is the phone number of {n}?", "answers": [p]}
            for i, (n, p) in enumerate(FACTS)
        ],
    )
    return corpus, qa


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", ":2: not JSON"),
        ('["a list"]', ":2: each line must be a JSON object"),
        ('{"question": "Who?"}', ":2: field 'answers' must be a non-empty list of strings"),
        ('{"question": "Who?", "answers": []}', ":2: field 'answers'"),
        ('{"question": "", "answers": ["x"]}', ":2: field 'question'"),
    ],
)
def test_bad_qa_lines_are_named(tmp_path, line, message):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "ok?", "answers": ["yes"]}, line])
    with pytest.raises(UserError, match=message):
        read_qa(path)


def test_empty_files_are_refused(tmp_path, byok_files):
    corpus, _ = byok_files
    with pytest.raises(UserError, match="no questions"):
        write_byok_task(corpus, write_jsonl(tmp_path / "empty.jsonl", []))
    with pytest.raises(UserError, match="corpus is empty"):
        write_byok_task(write_jsonl(tmp_path / "none.jsonl", []), byok_files[1])


def test_same_files_make_the_same_task(byok_files):
    first, again = write_byok_task(*byok_files), write_byok_task(*byok_files)
    assert first == again and first[1] == "kmb_byok_my_qa"


def test_squad_style_scores():
    assert qa_scores("The Eiffel Tower.", ["eiffel tower"]) == {"exact_match": 1.0, "f1": 1.0}
    scores = qa_scores("the tall Eiffel tower\nmore text", ["Eiffel Tower", "Paris"])
    assert scores["exact_match"] == 0.0 and scores["f1"] == pytest.approx(0.8)


def test_run_with_your_own_files(tiny_model_dir, byok_files, tmp_path, capsys):
    corpus, qa = byok_files
    out = tmp_path / "runs"
    code = main(
        run_args(tiny_model_dir, out, "", "--corpus", str(corpus), "--qa", str(qa), memories="none,rag", limit=2)
    )
    assert code == 0
    records = sorted((out / "records/kmb_byok_my_qa").rglob("*.json"))
    assert [p.name.split("-")[0] for p in records] == ["none", "rag"]
    assert "f1" in json.loads(records[0].read_text())["metrics"]


def test_corpus_without_qa_is_a_user_error(byok_files, tmp_path, capsys):
    assert main(["run", "--corpus", str(byok_files[0]), "--out", str(tmp_path / "runs")]) == 2
    assert "both --corpus" in capsys.readouterr().err
