"""The board from submissions, and its page in a real headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench.board.page import build_board
from bench.board.submission import create_submission


@pytest.fixture
def board(runs, tmp_path) -> Path:
    root = tmp_path / "submissions"
    create_submission(runs, root, "tiny-test", "KMBench tests", "2 CPU cores")
    bad = create_submission(runs, root, "tiny-broken", "KMBench tests", "2 CPU cores")
    next(bad.rglob("*.samples.jsonl")).unlink()
    text, problems = build_board(root, tmp_path / "board")
    assert problems and all("tiny-broken" in p for p in problems)  # refused, so left out
    assert "tiny-broken" not in text and text.count("| tiny-test |") == 2
    return tmp_path / "board"


def test_board_files(board):
    assert (board / "README.md").read_text().startswith("# KMBench leaderboard")
    html = (board / "site/index.html").read_text()
    assert html.count("<tr>") == 1 + 2 and "kmb_phonebook_1k_accuracy_vs_cost.png" in html
    for png in ("kmb_phonebook_1k_accuracy_vs_cost.png", "kmb_phonebook_1k_accuracy_vs_context.png"):
        assert (board / "site" / png).read_bytes()[:4] == b"\x89PNG"


def chromium_driver():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        reason = "Debian's chromium and chromium-driver are not installed (`make test` installs them as root)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def column_values(driver, column: int) -> list[float]:
    cells = driver.find_elements("css selector", f"table.board tbody tr td:nth-child({column + 1})")
    return [float(c.get_attribute("data-value")) for c in cells]


def test_page_sorts_and_shows_plots_without_console_errors(board):
    driver = chromium_driver()
    try:
        driver.get((board / "site/index.html").resolve().as_uri())
        headers = driver.find_elements("css selector", "table.board th")
        context = next(i for i, h in enumerate(headers) if h.text.startswith("context tok/query"))
        headers[context].click()
        ascending = column_values(driver, context)
        assert ascending == sorted(ascending) and ascending[0] < ascending[-1]
        headers[context].click()
        assert column_values(driver, context) == sorted(ascending, reverse=True)
        widths = driver.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth)")
        assert len(widths) == 2 and all(w > 100 for w in widths)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
