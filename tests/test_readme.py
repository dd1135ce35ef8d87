"""The README's result tables are generated from committed records and must match them."""

from __future__ import annotations

from pathlib import Path

from bench.cli import main
from bench.report.readme import BLOCK, refresh, stale_blocks

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_match_their_records(capsys):
    assert main(["readme", "--check", str(ROOT / "README.md")]) == 0, capsys.readouterr().err
    assert len(BLOCK.findall((ROOT / "README.md").read_text())) >= 2


def test_a_hand_edited_number_is_caught(tmp_path, capsys):
    text = refresh((ROOT / "README.md").read_text(), ROOT)
    edited = text.replace("| 100.0 ± 0.0 |", "| 99.0 ± 0.0 |", 1)
    assert edited != text and stale_blocks(edited, ROOT) == ["leaderboard/reference/bench"]
    readme = tmp_path / "README.md"
    readme.write_text(edited)
    assert main(["readme", "--check", str(readme)]) == 1
    assert "differs from its records" in capsys.readouterr().err


def test_a_limited_run_says_how_many_questions_it_asked():
    """study-smoke asks PaperQA's ICL one question: its cell must not read as the task's score."""
    from bench.report.readme import summary_table
    from bench.report.tables import load_table

    table = summary_table(load_table(ROOT / "leaderboard/reference/study-smoke"))
    [paperqa] = [line for line in table.splitlines() if line.startswith("| kmb_paperqa_study_small ")]
    assert "(on 1 q)" in paperqa and "(on 8 q)" in paperqa
    [phonebook] = [line for line in table.splitlines() if line.startswith("| kmb_phonebook_study_1k ")]
    assert " q)" not in phonebook  # full runs carry no mark
