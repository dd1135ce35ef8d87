"""Every forgery the validator once let through is refused, with one line and exit status 1.

Each test forges a copy of a committed, honest row (the closed-book or LoRA run of a committed
submission, made on the real default model), the way an attacker would edit the files of a
pull request, and runs `kmbench validate` on it as CI does.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
PHONEBOOK = ROOT / "leaderboard/submissions/smollm2-135m-cpu2-2026-11"
TASKS = ROOT / "leaderboard/submissions/smollm2-135m-cpu2-2026-11-tasks"


def copy_row(source: Path, task: str, memory: str, into: Path) -> tuple[Path, Path]:
    """A submission folder holding one committed row; returns its record and samples paths."""
    folder = into / source.name
    (folder / "records").mkdir(parents=True)
    shutil.copyfile(source / "submission.yaml", folder / "submission.yaml")
    record = next((source / "records" / task).rglob(f"{memory}-*.json"))
    target = folder / record.relative_to(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(record, target)
    samples = next(record.parent.glob(record.stem + ".samples.jsonl*"))
    rows = target.with_name(record.stem + ".samples.jsonl")
    opener = gzip.open if samples.suffix == ".gz" else open
    with opener(samples, "rt") as f:
        rows.write_text(f.read())
    return target, rows


def edit(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_rows(path: Path, change: Callable[[list[dict]], list[dict] | None]) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows = change(rows) or rows
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def refused(folder: Path, capsys, *flags: str) -> str:
    """Validate as CI does; returns the problem line (there must be exactly one kind)."""
    code = main(["validate", *flags, str(folder)])
    out = capsys.readouterr().out
    assert code == 1, out
    problems = [line for line in out.splitlines() if line.startswith(str(folder)) and ": " in line]
    assert problems and all(len(p.splitlines()) == 1 for p in problems), out
    return "\n".join(problems)


@pytest.fixture
def closed_book(tmp_path) -> tuple[Path, Path, Path]:
    record, rows = copy_row(PHONEBOOK, "kmb_phonebook_1k", "none", tmp_path)
    return record.parents[3], record, rows


def test_the_honest_copy_passes(closed_book, capsys):
    folder, _, _ = closed_book
    assert main(["validate", str(folder)]) == 0, capsys.readouterr().out


@pytest.mark.integration
def test_gold_answers_do_not_reproduce(closed_book, capsys, monkeypatch, real_cache):
    """The attack that passed before: every response replaced by the gold number, scores set to
    1.0. Re-scoring agrees with the forged responses; rerunning the closed book does not."""
    folder, record, rows = closed_book
    monkeypatch.setenv("KMBENCH_CACHE", str(real_cache))

    def gold(rs: list[dict]) -> None:
        for r in rs:
            r["response"] = r["filtered_response"] = r["doc"]["answer"]
            r["metrics"] = {"exact_match": 1.0, "digits_match": 1.0}

    edit_rows(rows, gold)
    edit(record, lambda d: d["metrics"].update(exact_match={"value": 1.0, "stderr": 0.0},
                                               digits_match={"value": 1.0, "stderr": 0.0}))  # fmt: skip
    assert main(["validate", str(folder)]) == 0  # self-consistent: only a rerun can tell
    capsys.readouterr()
    problem = refused(folder, capsys, "--reproduce", "--reproductions", str(folder.parent / "none"))
    assert "answers do not reproduce and the claim beats the rerun: 0/36; claim - rerun: score +100.0" in problem


@pytest.mark.integration
def test_storage_is_recomputed_by_the_rerun(closed_book, capsys, monkeypatch, real_cache, tmp_path):
    folder, record, _ = closed_book
    monkeypatch.setenv("KMBENCH_CACHE", str(real_cache))
    edit(record, lambda d: d["cost"].update(storage_bytes=1))
    flags = ["--reproduce", "--reproductions", str(tmp_path / "none")]
    assert "the memory stores 0 bytes, the record says 1" in refused(folder, capsys, *flags)


def test_pending_trusts_only_a_committed_reproduction(closed_book, capsys, tmp_path):
    """Without a base (a maintainer's `make reproduce`) a full committed rerun is trusted and
    skipped; with `--base` (CI), an entry the change adds is a claim: rerun, and refused when
    the rerun does not give it."""
    from bench.board.reproduce import Reproduction, save_reproductions

    folder, record, _ = closed_book
    run_id = json.loads(record.read_text())["run"]["run_id"]
    kept = tmp_path / "claims"
    save_reproductions(kept / f"{folder.name}.json", [Reproduction(run_id, checked=36, identical=36)], None)
    flags = ["validate", "--reproduce", "--pending", "--reproductions", str(kept), str(folder)]
    assert main(flags) == 0
    assert "reproduced in full before (36/36), not rerun" in capsys.readouterr().out
    assert "--base" in (ROOT / "Makefile").read_text()  # CI names the base, so added entries are claims


@pytest.mark.integration
def test_a_claimed_reproduction_is_rerun_and_refused_when_false(closed_book, capsys, monkeypatch, real_cache, tmp_path):
    from bench.board.reproduce import Reproduction, save_reproductions

    folder, record, _ = closed_book
    monkeypatch.setenv("KMBENCH_CACHE", str(real_cache))
    run_id = json.loads(record.read_text())["run"]["run_id"]
    kept = tmp_path / "claims"
    false_claim = Reproduction(run_id, checked=36, identical=36, probe_checked=2, probe_identical=2)
    save_reproductions(kept / f"{folder.name}.json", [false_claim], None)
    flags = ["--reproduce", "--pending", "--base", "HEAD", "--reproductions", str(kept)]
    assert "claims 36/36, probe 2/2 for this row; the rerun gives 36/36" in refused(folder, capsys, *flags)
    save_reproductions(kept / f"{folder.name}.json", [Reproduction("none-000000000000", checked=1, identical=1)], None)
    assert "no row of this submission" in refused(folder, capsys, *flags)


def test_the_probe_is_rerun_with_the_memory(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """Retention is rerun too: the probe's answers with the adapter on, and the base model's.
    Edited probe answers show in the rerun's count; they are refused when they claim better
    retention than the rerun (`test_a_claim_better_than_its_rerun_is_refused`)."""
    from conftest import head_commit, run_args

    import bench.run.runner
    from bench.board.submission import create_submission

    monkeypatch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    out, kept = tmp_path / "runs", tmp_path / "reproduced"
    lora = ["--set", "lora.epochs=1", "--set", "lora.rank=2"]
    assert main(run_args(tiny_model_dir, out, "kmb_phonebook_1k", *lora, memories="lora")) == 0
    folder = create_submission(out, tmp_path / "subs", "tiny-lora", "KMBench tests", "2 CPU cores")
    record = next(folder.rglob("lora-*.json"))
    flags = ["validate", "--reproduce", "--reproductions", str(kept), str(folder)]
    assert main(flags) == 0
    probe = len(json.loads(record.read_text())["forgetting"]["base_answers"])
    assert f"reproduced 3/3, probe {2 * probe}/{2 * probe}" in capsys.readouterr().out

    def edit_probe(d: dict) -> None:  # kept consistent with the retention stated, which it makes no better
        f = d["forgetting"]
        f["memory_answers"] = [f"{a} (edited)" for a in f["memory_answers"]]
        f.update(retained=0, retention=0.0 if f["base_correct"] else None)

    edit(record, edit_probe)
    assert main(flags) == 0
    assert f"reproduced 3/3, probe {probe}/{2 * probe}" in capsys.readouterr().out


def test_a_claim_better_than_its_rerun_is_refused():
    """Answers that differ are refused only when the claim scores better than the rerun: what
    another CPU's rounding does to a trained memory's wording is not a forgery."""
    from bench.board.reproduce import Reproduction, probe_comparison, score_gaps
    from bench.run.record import Forgetting

    samples = [{"doc_id": i, "metrics": {"exact_match": 1.0 if i < 10 else 0.0}} for i in range(40)]
    honest = score_gaps(samples, {i: 1.0 if i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 39) else 0.0 for i in range(40)},
                        "exact_match", True)  # fmt: skip
    assert honest["score_gap"] == 0.0
    assert not Reproduction("a", checked=40, identical=30, **honest).refused  # reworded, same score
    forged = score_gaps(samples, {i: 1.0 if i < 2 else 0.0 for i in range(40)}, "exact_match", True)
    assert Reproduction("a", checked=40, identical=32, **forged).refused  # 8 gold answers added
    assert not Reproduction("a", checked=40, identical=38, **forged).refused  # within MIN_IDENTICAL

    stated = Forgetting("kmb_forgetting", "1", ["x"] * 20, ["x"] * 20, 20, 20, 1.0)
    mine = (["y"] * 10 + ["x"] * 10, [0.0] * 10 + [1.0] * 10, "1")
    base = (["x"] * 20, [1.0] * 20, "1")
    found = probe_comparison(stated, mine, base)
    assert (found["probe_checked"], found["probe_identical"]) == (40, 30)
    assert Reproduction("a", checked=3, identical=3, **found).refused  # 100% retention claimed, 50% rerun


def test_icl_cannot_claim_its_shared_context_for_free(tmp_path, capsys):
    """ICL's prefix may be computed once for every question, but at least once: a row whose
    questions each claim only their own tokens' time is refused for reading too fast overall."""
    record, rows = copy_row(PHONEBOOK, "kmb_phonebook_1k", "icl", tmp_path)
    folder = record.parents[3]
    fast = 3e-4  # what a question's own ~20 tokens take at the CPU peak, the 2,900-token context aside
    edit_rows(rows, lambda rs: [{**r, "seconds": fast} for r in rs])
    n = len(rows.read_text().splitlines())
    edit(record, lambda d: d["cost"].update(seconds_per_query=fast, read_seconds=fast * n))
    assert "reading faster than" in refused(folder, capsys)


def test_a_new_record_cannot_claim_the_schema_without_retention(tmp_path, capsys):
    """Schema v1 records are migrated without the probe; one made at a commit that writes v2 is refused."""
    record, _ = copy_row(TASKS, "kmb_wiki2023_bio_small", "lora", tmp_path)
    edit(record, lambda d: d.update(schema_version=1, forgetting=None, judge=None))
    assert "its commit writes v2" in refused(record.parents[3], capsys)


def test_a_homoglyph_submission_id_is_refused(closed_book, capsys):
    folder, _, _ = closed_book
    lookalike = folder.with_name(folder.name.replace("o", "\u043e", 1))  # Cyrillic o
    folder.rename(lookalike)
    yaml_file = lookalike / "submission.yaml"
    yaml_file.write_text(yaml_file.read_text().replace(f"id: {folder.name}", f"id: {lookalike.name}"))
    assert "is not lowercase letters" in refused(lookalike, capsys)


def test_context_tokens_are_the_questions_own(tmp_path, capsys):
    record, _ = copy_row(PHONEBOOK, "kmb_phonebook_1k", "icl", tmp_path)
    edit(record, lambda d: d["cost"].update(context_tokens_per_query=d["cost"]["context_tokens_per_query"] / 10))
    assert "context_tokens_per_query is not the questions' mean" in refused(record.parents[3], capsys)


def test_a_chosen_primary_metric_is_refused(closed_book, capsys):
    folder, record, _ = closed_book
    edit(record, lambda d: d["task"].update(primary_metric="digits_match"))
    assert "the task ranks by 'exact_match'" in refused(folder, capsys)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["memory"].update(label="rag"), "its config gives 'none'"),
        (lambda d: d["run"].update(run_id="none-000000000000"), "is not the hash of this record's"),
        (lambda d: d["run"].update(seed=3), "is not the hash of this record's"),
        (lambda d: d["run"].update(git_sha="0" * 40), "is not in this project's history"),
    ],
)
def test_identity_and_provenance_come_from_the_record(closed_book, capsys, change, message):
    folder, record, _ = closed_book
    edit(record, change)
    assert message in refused(folder, capsys)


def test_a_held_out_task_is_refused(closed_book, capsys):
    """The held-out tasks choose the defaults; a row on one would rank configs on their own selection data."""
    folder, record, _ = closed_book
    edit(record, lambda d: d["task"].update(name="kmb_heldout_phonebook"))
    yaml_path = folder / "submission.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("- kmb_phonebook_1k", "- kmb_heldout_phonebook"))
    assert "is held out for choosing defaults (kmb_heldout): never on the board" in refused(folder, capsys)


def test_a_kept_best_seed_is_refused(closed_book, capsys):
    """Seeds must run 0..k-1: submitting seed 3 alone (run id made to match) is cherry-picking."""
    from bench.board.validate import identity
    from bench.run.record import load_record

    folder, record, _ = closed_book
    edit(record, lambda d: d["run"].update(seed=3))
    forged = load_record(record)
    edit(record, lambda d: d["run"].update(run_id=identity(forged, None).run_id()))
    assert "seeds [3]; submit seeds 0..k-1" in refused(folder, capsys)


@pytest.fixture
def lora_row(tmp_path) -> tuple[Path, Path, Path]:
    record, rows = copy_row(TASKS, "kmb_wiki2023_bio_small", "lora", tmp_path)
    return record.parents[3], record, rows


def test_retention_left_out_or_moved_is_refused(lora_row, capsys):
    folder, record, _ = lora_row
    assert main(["validate", str(folder)]) == 0, capsys.readouterr().out
    original = json.loads(record.read_text())
    edit(record, lambda d: d.update(forgetting=None))
    assert "must carry the kmb_forgetting probe" in refused(folder, capsys)
    record.write_text(json.dumps(original))
    edit(record, lambda d: d["forgetting"].update(task="kmb_wiki2023_bio_small"))
    assert "the probe is 'kmb_forgetting'" in refused(folder, capsys)


def test_links_and_decompression_bombs_are_refused(closed_book, capsys, tmp_path):
    folder, _, rows = closed_book
    secret = tmp_path / "outside.txt"
    secret.write_text("not part of the submission")
    (folder / "notes.txt").symlink_to(secret)
    assert "is a symbolic link" in refused(folder, capsys)
    (folder / "notes.txt").unlink()
    from bench.board.files import CAPS

    bomb = rows.with_name(rows.name + ".gz")
    with gzip.open(bomb, "wb") as f:  # 1 KB on disk, past the cap once decompressed
        line = (json.dumps({"doc_id": 0, "pad": "0" * 1_000_000}) + "\n").encode()
        for _ in range(CAPS.max_decompressed_bytes // len(line) + 2):
            f.write(line)
    rows.unlink()
    assert "decompresses past the" in refused(folder, capsys)


def test_one_malformed_line_costs_only_its_submission(closed_book, capsys, tmp_path):
    folder, _, rows = closed_book
    good = tmp_path / "good"
    copy_row(TASKS, "kmb_counterfact_1k", "none", good)
    edit_rows(rows, lambda rs: [*rs[:-1], [1, 2]])  # valid JSON, not an object
    code = main(["validate", str(folder), str(good / TASKS.name)])
    out = capsys.readouterr().out
    assert code == 1
    assert "line 36 is not a JSON object" in out and f"REFUSED {folder}" in out and f"ok {good / TASKS.name}" in out


def test_a_limited_run_passes_but_is_partial(closed_book, capsys):
    """One question, honestly labelled limit 1 with costs to match: valid, and shown on the
    board as partial and unranked (tests/test_leaderboard.py)."""
    from bench.board.validate import identity
    from bench.run.record import load_record

    folder, record, rows = closed_book
    edit_rows(rows, lambda rs: rs[:1])
    first = json.loads(rows.read_text().splitlines()[0])
    scores = {m: {"value": first["metrics"][m], "stderr": None} for m in ("exact_match", "digits_match")}

    def cut(d: dict) -> None:
        n_params, prompt = d["model"]["n_params"], first["prompt_tokens"]
        d["task"].update(limit=1, n_queries=1)
        d["metrics"].update(scores)
        d["cost"].update(prompt_tokens_per_query=prompt, context_tokens_per_query=first["context_tokens"])
        d["cost"].update(read_flops=2.0 * n_params * (prompt + 1), seconds_per_query=first["seconds"])

    edit(record, cut)
    edit(record, lambda d: d["run"].update(run_id=identity(load_record(record), None).run_id()))
    assert main(["validate", str(folder)]) == 0, capsys.readouterr().out


def test_a_one_line_bomb_is_refused_before_the_line_is_held(closed_book, capsys, monkeypatch):
    """A single line with no newline that decompresses past the cap: reading stops at the cap."""
    import bench.run.record
    from bench.board.files import CAPS

    folder, _, rows = closed_book
    bomb = rows.with_name(rows.name + ".gz")
    with gzip.open(bomb, "wb") as f:
        chunk = b"0" * 1_000_000
        for _ in range(CAPS.max_decompressed_bytes // len(chunk) + 2):
            f.write(chunk)
    rows.unlink()
    longest = []
    real_loads = bench.run.record.json.loads
    monkeypatch.setattr(bench.run.record.json, "loads", lambda b, *a, **k: longest.append(len(b)) or real_loads(b))
    assert "decompresses past the" in refused(folder, capsys)
    assert max(longest, default=0) < 10**7  # the 256 MB line never reached the parser


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["run"].update(git_sha="HEAD"), "is not a full 40-hex commit id"),
        (lambda d: d["run"].update(git_sha="HEAD~5"), "is not a full 40-hex commit id"),
        (lambda d: d["model"].update(name="smollm2-135\u043c"), "is not a plain ASCII name"),  # Cyrillic em
        (lambda d: d["model"].update(name="smollm2\u200b-135m"), "is not a plain ASCII name"),  # zero width
        (lambda d: d["model"].update(device="tpu:0"), "is not a known kind"),
        (lambda d: [m.update(stderr=None) for m in d["metrics"].values()], "no stderr, but"),
        (lambda d: [m.update(stderr=float("nan")) for m in d["metrics"].values()], "is not a pair of finite numbers"),
        (lambda d: d["metrics"].pop(d["task"]["primary_metric"]), "primary metric"),
        (lambda d: d["model"].update(answer_turn="system"), "is not one of: assistant, user"),
        (lambda d: d["run"].update(batch_size=0), "is not a positive number of questions"),
        (lambda d: d["model"].update(answer_turn="user", chat_template=False), "needs the chat template"),
    ],
    ids=[
        *("sha-head", "sha-ancestor", "homoglyph", "zero-width", "device", "null-stderr", "nan-stderr"),
        *("no-primary", "unknown-turn", "turn-without-template", "batch-size"),
    ],
)
def test_identity_and_number_forgeries_are_refused(closed_book, capsys, change, problem):
    folder, record, _ = closed_book
    edit(record, change)
    assert problem in refused(folder, capsys)


def test_seed_shopping_is_refused(tmp_path, capsys):
    """A LoRA row retrained at another seed and labelled seed 0: the config's seed is the run's."""
    record, _ = copy_row(PHONEBOOK, "kmb_phonebook_1k", "lora", tmp_path)
    edit(record, lambda d: d["memory"]["config"].update(seed=7))
    assert "memory config seed 7 differs from the run's seed 0" in refused(record.parents[3], capsys)


def test_a_judge_on_a_task_without_one_is_refused(closed_book, capsys):
    """The judge is part of a row's identity: on a task with no judge it would let one run be
    submitted many times under made-up judge names and averaged."""
    from bench.harness.judging import STUDY

    folder, record, _ = closed_book
    judge = {"model": "judge-1", "model_id": "judge-1", "rubric_sha256": STUDY.sha256, "unparseable": 0, "scale": 10}
    edit(record, lambda d: d.update(judge=judge, forgetting=None, schema_version=2))  # v1 migrates judge away
    assert "has no judge, yet the record names one" in refused(folder, capsys)
