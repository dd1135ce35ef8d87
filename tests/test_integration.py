"""The real default model (SmolLM2-135M from its wheel) on a fresh four-fact phone book."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.run.record import find_records, load_record

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_book(tmp_path, real_cache, monkeypatch) -> Path:
    from tasks.kmb_phonebook.build import write_fresh_task

    monkeypatch.setenv("KMBENCH_CACHE", str(real_cache))
    folder = tmp_path / "book"
    assert write_fresh_task(folder, n_facts=4, seed=7) == "kmb_phonebook_fresh_n4_s7"
    return folder


def test_rag_and_lora_learn_a_fresh_book(fresh_book, tmp_path, real_cache):
    out = tmp_path / "runs"
    code = main(
        [
            "run",
            "--include-path",
            str(fresh_book),
            "--tasks",
            "kmb_phonebook_fresh_n4_s7",
            "--memories",
            "none,rag,lora",
            "--set",
            "lora.epochs=40",
            "--out",
            str(out),
            "--reports",
            str(tmp_path / "rep"),
        ]
    )
    assert code == 0
    scores = {r.memory.name: r for r in map(load_record, find_records(out))}
    assert scores["none"].metrics["exact_match"].value == 0.0  # made-up numbers: the model cannot know them
    assert scores["rag"].metrics["exact_match"].value == 1.0
    assert scores["lora"].metrics["digits_match"].value >= 0.75
    assert scores["lora"].cost.trainable_params > 0 and not scores["lora"].cost.write_cached

    adapter = next((real_cache / "adapters").iterdir())
    model_dir = next((real_cache / "models").iterdir())
    stock = subprocess.run(
        [
            sys.executable,
            "-m",
            "lm_eval",
            "--model",
            "hf",
            "--model_args",
            f"pretrained={model_dir},peft={adapter}",
            "--include_path",
            str(fresh_book),
            "--tasks",
            "kmb_phonebook_fresh_n4_s7",
            "--device",
            "cpu",
            "--batch_size",
            "4",
            "--output_path",
            str(tmp_path / "stock"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    assert stock.returncode == 0, stock.stderr[-2000:]
    results = json.loads(next((tmp_path / "stock").rglob("results_*.json")).read_text())
    stock_em = results["results"]["kmb_phonebook_fresh_n4_s7"]["exact_match,none"]
    assert stock_em == scores["lora"].metrics["exact_match"].value
