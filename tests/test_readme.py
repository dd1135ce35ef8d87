"""The README's result tables are generated from committed records and must match them."""

from __future__ import annotations

import re
from pathlib import Path

from bench.cli import main
from bench.report.readme import BLOCK, documents, refresh, stale_blocks

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens (code blocks skipped)."""
    found, fence = set(), False
    for line in page.read_text().splitlines():
        fence = fence != line.startswith("```")
        if not fence and (m := re.match(r"#{1,6} (.*)", line)):
            found.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return found


def test_readme_tables_match_their_records(capsys):
    assert main(["readme", "--check"]) == 0, capsys.readouterr().err  # the README, CONTRIBUTING and docs/
    assert len(BLOCK.findall((ROOT / "README.md").read_text())) >= 1
    assert sum(len(BLOCK.findall(page.read_text())) for page in documents(ROOT)) >= 8


def test_every_relative_link_and_anchor_resolves():
    """A moved section or a renamed heading breaks no link in the README, CONTRIBUTING or docs/."""
    broken = []
    for page in documents(ROOT):
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


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
