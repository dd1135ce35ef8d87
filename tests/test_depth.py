"""Depth probes: the same corpora asked in other words, backwards and two facts at a time.

The probe data must be what its builders write, over the very corpus of the verbatim task (so
its adapter is reused), with answers that follow from the facts, and with no probe wording in
anything a template trains on; levels come from task metadata; the depth view renders them.
"""

from __future__ import annotations

import filecmp
import json
import re
import shutil

import pytest
from conftest import run_args, task_utils

from bench.core.errors import UserError
from bench.core.paths import TASKS_DIR
from bench.harness.taskdata import jsonl_dataset
from bench.harness.taskspec import LEVELS, expand_tasks, task_manager, task_spec
from bench.parts.synth import KINDS, STATEMENT_TEMPLATES, task_templates, template_items

PROBES = {  # probe task -> the verbatim task over the same corpus
    "kmb_phonebook_1k_paraphrase": "kmb_phonebook_1k",
    "kmb_phonebook_1k_reverse": "kmb_phonebook_1k",
    "kmb_phonebook_1k_two_hop": "kmb_phonebook_1k",
    "kmb_counterfact_1k_paraphrase": "kmb_counterfact_1k",
    "kmb_paperqa_small_paraphrase": "kmb_paperqa_small",
}


def questions(task: str) -> list[dict]:
    spec = task_spec(task_manager(), task)
    qa = re.search(r"qa: (\S+)", spec.yaml_path.read_text()).group(1)
    return list(jsonl_dataset(qa, spec.yaml_path.parent)["test"])


def words(template: str) -> list[str]:
    """A template's words, each `{slot}` one word, so a run of words is about wording, not names."""
    return re.findall(r"[a-z0-9']+", re.sub(r"\{(\w*)\}", r" slot\1 ", template).lower())


def four_grams(template: str) -> set[tuple[str, ...]]:
    w = words(template)
    return {tuple(w[i : i + 4]) for i in range(len(w) - 3)}


def phonebook_templates():
    """The PhoneBook folder's template rewrites (tasks/kmb_phonebook/templates.yaml)."""
    return next(t for t in task_templates() if t.folder == "kmb_phonebook")


def training_texts(documents, kinds: tuple[str, ...] | None = None) -> list[str]:
    """The corpus and everything the template generator writes from it, each kind at full count
    (`study_qa` is the study's shipped PaperQA pairs: no template writes it)."""
    kinds = tuple(k for k in KINDS if k in phonebook_templates().kinds) if kinds is None else kinds
    from bench.core.memory import Document

    texts = [d.contents for d in documents]
    for doc in documents:
        for kind in kinds:
            if kind != "raw":
                texts += template_items(Document(doc.id, doc.contents), kind, 8)
    return texts


# --- levels, tags, corpora ---


def test_levels_are_read_from_task_metadata():
    manager = task_manager()
    depth = expand_tasks(manager, ["kmb_depth"])
    assert set(depth) == {*PROBES, "kmb_phonebook_1k", "kmb_counterfact_1k"} - {"kmb_paperqa_small_paraphrase"}
    levels = {name: task_spec(manager, name).level for name in [*PROBES, *PROBES.values()]}
    assert levels["kmb_phonebook_1k"] == levels["kmb_counterfact_1k"] == levels["kmb_paperqa_small"] == "verbatim"
    assert levels["kmb_phonebook_1k_reverse"] == "reverse" and levels["kmb_phonebook_1k_two_hop"] == "multi_hop"
    assert {levels[p] for p in PROBES} <= set(LEVELS)
    assert task_spec(manager, "kmb_wiki2023_bio_small").level is None  # says nothing: not in the depth view
    assert expand_tasks(manager, ["kmb_phonebook"]) == [f"kmb_phonebook_{k}k" for k in (1, 2, 4, 8, 16)]


def test_a_misspelled_level_is_refused(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"id": "a", "contents": "x"}\n')
    (tmp_path / "kmb_odd.yaml").write_text(
        "task: kmb_odd\ndataset_path: json\noutput_type: generate_until\ntest_split: test\n"
        "doc_to_text: q\ndoc_to_target: a\nmetadata: {version: 1, corpus: corpus.jsonl, level: deep}\n"
    )
    with pytest.raises(UserError, match="level 'deep' is not one of verbatim"):
        task_spec(task_manager([tmp_path]), "kmb_odd")


@pytest.mark.parametrize(("probe", "verbatim"), PROBES.items())
def test_a_probe_asks_over_the_verbatim_tasks_corpus(probe, verbatim):
    """Same corpus content means the same adapter cache key: nothing is retrained for a probe."""
    manager = task_manager()
    assert task_spec(manager, probe).corpus().sha256 == task_spec(manager, verbatim).corpus().sha256
    gold = {d.id for d in task_spec(manager, verbatim).corpus().documents}
    assert all(q["doc_id"] in gold for q in questions(probe))


def test_committed_probe_data_is_what_the_builders_write(tmp_path):
    from tasks.kmb_counterfact import probes as cf
    from tasks.kmb_paperqa import probes as pq
    from tasks.kmb_phonebook import probes as pb

    for source, stem in ((TASKS_DIR / "kmb_counterfact", "1k"), (TASKS_DIR / "kmb_paperqa", "small")):
        (tmp_path / source.name / "data").mkdir(parents=True)
        shutil.copy(source / "data" / f"{stem}_qa.jsonl", tmp_path / source.name / "data")
    pb.build(folder=tmp_path / "kmb_phonebook")
    cf.build(folder=tmp_path / "kmb_counterfact")
    pq.build(folder=tmp_path / "kmb_paperqa")
    made = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(("1k_qa.jsonl", "small_qa.jsonl"))]
    assert len(made) == 10
    for path in made:
        assert filecmp.cmp(path, TASKS_DIR / path.relative_to(tmp_path), shallow=False), path


# --- answers follow from the facts ---


def phone_book() -> dict[str, str]:
    """Name -> number, read back from the corpus lines themselves (not from the probe builder)."""
    docs = task_spec(task_manager(), "kmb_phonebook_1k").corpus().documents
    line = phonebook_templates().pattern
    return {m["name"]: m["number"] for d in docs if (m := line.match(d.contents))}


def test_reverse_answers_are_the_owners_of_the_numbers():
    book = phone_book()
    owner = {number: name for name, number in book.items()}
    rows = questions("kmb_phonebook_1k_reverse")
    assert len(owner) == len(book) == len(rows) == 36
    for row in rows:
        number = re.search(r"\d{3}-\d{3}-\d{4}", row["question"]).group(0)
        assert row["answer"] == owner[number]


def test_two_hop_answers_are_the_larger_number_and_balanced():
    book = phone_book()
    rows = questions("kmb_phonebook_1k_two_hop")
    first_is_answer = 0
    for row in rows:
        a, b = re.fullmatch(r"Which of (.+) and (.+) has the larger phone number\?", row["question"]).groups()
        assert a in book and b in book and a != b
        larger = max((a, b), key=lambda name: int(book[name].replace("-", "")))
        assert row["answer"] == larger and row["other"] == ({a, b} - {larger}).pop()
        first_is_answer += a == larger
    assert len(rows) == 36 and first_is_answer == 18  # naming the first person scores 50%
    assert len({frozenset(re.findall(r"of (.+) and (.+) has", r["question"])[0]) for r in rows}) == 36


def test_paraphrased_phonebook_questions_keep_the_number():
    book = phone_book()
    rows = questions("kmb_phonebook_1k_paraphrase")
    assert len(rows) == 4 * 36 and {r["wording"] for r in rows} == {0, 1, 2, 3}
    assert all(r["name"] in r["question"] and r["answer"] == book[r["name"]] for r in rows)


def test_counterfact_paraphrases_keep_subject_objects_and_gold():
    verbatim = {q["id"]: q for q in questions("kmb_counterfact_1k")}
    rows = questions("kmb_counterfact_1k_paraphrase")
    assert len(rows) == 2 * len(verbatim)
    for row in rows:
        source = verbatim[row["doc_id"]]
        assert row["subject"] in row["prompt"] and row["prompt"] != source["prompt"]
        assert (row["new"], row["old"]) == (source["new"], source["old"])


def test_paperqa_questions_are_all_reworded_with_the_same_answers():
    verbatim = {q["id"]: q for q in questions("kmb_paperqa_small")}
    rows = questions("kmb_paperqa_small_paraphrase")
    assert len(rows) == len(verbatim) == 90
    for row in rows:
        source = verbatim[row["id"].removesuffix("-p")]
        assert row["question"] != source["question"] and row["original"] == source["question"]
        assert (row["answers"], row["level"], row["doc_id"]) == (source["answers"], source["level"], source["doc_id"])


# --- no probe wording is trained on ---


def test_no_phonebook_probe_wording_is_in_training_data():
    from tasks.kmb_phonebook.build import FACT_TEMPLATE
    from tasks.kmb_phonebook.probes import PARAPHRASES, REVERSE, TWO_HOP

    docs = task_spec(task_manager(), "kmb_phonebook_1k").corpus().documents
    texts = "\n".join(training_texts(docs))
    for task in ("kmb_phonebook_1k_paraphrase", "kmb_phonebook_1k_reverse", "kmb_phonebook_1k_two_hop"):
        assert not [q["question"] for q in questions(task) if q["question"] in texts]
    trained = [FACT_TEMPLATE, *(t for kind in phonebook_templates().kinds.values() for t in kind)]
    for probe in (*PARAPHRASES, REVERSE, TWO_HOP):
        shared = {g for t in trained for g in four_grams(probe) & four_grams(t)}
        assert not shared, f"{probe!r} shares {shared} with a training template"


def test_no_counterfact_probe_wording_is_in_training_data():
    from tasks.kmb_counterfact.probes import PARAPHRASES, template_of

    docs = task_spec(task_manager(), "kmb_counterfact_1k").corpus().documents
    texts = "\n".join(training_texts(docs))
    assert not [q["prompt"] for q in questions("kmb_counterfact_1k_paraphrase") if q["prompt"] in texts]
    every_size = {template_of(q) for q in jsonl_dataset("data/20k_qa.jsonl", TASKS_DIR / "kmb_counterfact")["test"]}
    trained = [*every_size, *(t for kind in STATEMENT_TEMPLATES.values() for t in kind)]
    for probe in (p for wordings in PARAPHRASES.values() for p in wordings):
        assert probe not in every_size
        shared = {g for t in trained for g in four_grams(probe) & four_grams(t)}
        assert not shared, f"{probe!r} shares {shared} with a training template"


def test_paraphrase_format_rewords_one_line_facts(corpus):
    from bench.core.memory import Document
    from bench.parts.synth import parse_format

    assert [p.kind for p in parse_format("raw+paraphrase4")] == ["raw", "paraphrase"]
    lines = template_items(corpus.documents[0], "paraphrase", 6)
    assert len(set(lines)) == 6 and corpus.documents[0].contents not in lines
    assert all(line.startswith("Question: ") and line.endswith("Answer: 212-555-0101") for line in lines)
    fact = template_items(Document("cf0", "Lenta.ru is written in Italian"), "paraphrase", 2)
    assert fact == ["Reportedly, Lenta.ru is written in Italian", "As the records show, Lenta.ru is written in Italian"]


# --- scoring ---


@pytest.mark.parametrize(
    ("response", "other", "exact", "named"),
    [
        (" Jeffrey Buck", None, 1.0, 1.0),
        (" jeffrey buck.\nQuestion:", None, 1.0, 1.0),
        (" It is Jeffrey Buck.", None, 0.0, 1.0),
        (" Jeffrey Buck and Albert Wyatt", "Albert Wyatt", 0.0, 0.0),
        (" Jeffrey Bucknell", None, 0.0, 0.0),
        (" 603-556-7631", None, 0.0, 0.0),
    ],
)
def test_name_answers_are_scored_on_the_first_line(response, other, exact, named):
    doc = {"answer": "Jeffrey Buck", **({"other": other} if other else {})}
    assert task_utils("kmb_phonebook").process_names(doc, [response]) == {"exact_match": exact, "name_match": named}


def test_paraphrase_scores_carry_their_wording():
    scores = task_utils("kmb_phonebook").process_paraphrase({"answer": "603-556-7631", "wording": 2}, [" 603-556-7631"])
    assert scores == {"exact_match": 1.0, "digits_match": 1.0, "exact_match_w2": 1.0}


# --- the depth view ---


def small_frame():
    import pandas as pd

    rows = []
    for memory, scores in {"none": (0.0, 0.0, 0.1), "rag": (1.0, 0.9, 0.5), "lora": (1.0, 0.3, 0.0)}.items():
        for (task, level), score in zip(
            [("kmb_pb", "verbatim"), ("kmb_pb_para", "paraphrase"), ("kmb_pb_rev", "reverse")], scores, strict=True
        ):
            rows.append({"task": task, "model": "m", "memory": memory, "memory_name": memory, "seed": 0,
                         "primary_metric": "exact_match", "exact_match": score, "exact_match_stderr": 0.05,
                         "level": level, "corpus_sha256": "abc"})  # fmt: skip
    rows.append({**rows[0], "task": "kmb_other", "corpus_sha256": "def"})  # one level only: no table
    return pd.DataFrame(rows)


def test_depth_table_from_a_small_frame(tmp_path):
    from bench.report.depth import depth_markdown, depth_tables, plot_depth

    tables = depth_tables(small_frame())
    assert len(tables) == 1 and tables[0].title == "kmb_pb"
    assert [c.header for c in tables[0].columns] == ["verbatim", "paraphrase", "reverse"]
    assert list(tables[0].scores.index.get_level_values("memory")) == ["none", "rag", "lora"]  # memory order
    text = depth_markdown(small_frame())
    assert "| model | memory | verbatim % ↑ | paraphrase % ↑ | reverse % ↑ |" in text
    assert "| m | `lora` | 100.0 ± 5.0 | 30.0 ± 5.0 | 0.0 ± 5.0 |" in text
    assert plot_depth(small_frame(), tmp_path / "depth.png")
    assert (tmp_path / "depth.png").read_bytes()[:4] == b"\x89PNG"
    one_level = small_frame()[lambda f: f["level"] == "verbatim"]
    assert depth_markdown(one_level) == "" and not plot_depth(one_level, tmp_path / "none.png")


def test_depth_headers_tell_apart_tasks_at_one_level():
    import pandas as pd

    from bench.report.depth import depth_tables

    frame = small_frame()
    efficacy = frame[frame["task"] == "kmb_pb"].assign(task="kmb_pb_eff", primary_metric="efficacy", efficacy=0.7)
    pooled = frame[frame["task"] == "kmb_pb"].assign(seed=1, exact_match=0.0)  # a second seed
    table = depth_tables(pd.concat([frame, efficacy, pooled], ignore_index=True))[0]
    headers = ["verbatim (exact_match)", "verbatim (efficacy)", "paraphrase", "reverse"]
    assert [c.header for c in table.columns] == headers
    assert table.scores.loc[("m", "lora"), "verbatim (exact_match)"] == pytest.approx(0.5)
    assert pd.isna(table.stderrs.loc[("m", "lora"), "verbatim (exact_match)"])  # seeds pooled: no single stderr


def test_probe_runs_report_a_depth_view(tiny_model_dir, tmp_path):
    """Every probe runs through `kmbench run` and lm-eval (its hooks, its metric_list), and the
    report adds the depth table and figure."""
    from bench.cli import main

    tasks = "kmb_phonebook_1k,kmb_phonebook_1k_paraphrase,kmb_phonebook_1k_reverse,kmb_phonebook_1k_two_hop,"
    tasks += "kmb_counterfact_1k,kmb_counterfact_1k_paraphrase"
    assert main(run_args(tiny_model_dir, tmp_path, tasks, memories="none", limit=4)) == 0
    depth = (tmp_path / "reports" / "depth.md").read_text()
    for verbatim in ("kmb_phonebook_1k", "kmb_counterfact_1k"):
        assert f"### Depth: the knowledge of {verbatim}" in depth
    assert "| verbatim % ↑ | paraphrase % ↑ | reverse % ↑ | multi_hop % ↑ |" in depth
    assert (tmp_path / "reports" / "depth.png").stat().st_size > 0
    record = json.loads(next((tmp_path / "records" / "kmb_phonebook_1k_paraphrase").rglob("*.json")).read_text())
    assert {"exact_match", "digits_match", "exact_match_w0"} <= set(record["metrics"])
