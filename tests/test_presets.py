"""The shipped grids and comparisons are valid before anyone spends hours on them: every preset and
every memory config file parses, names tasks that exist and builds each memory's config; the
study presets keep the study's protocol (profile, chat template per task family, GPU requests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from baselines import make_memory
from bench.cli import read_memory_file
from bench.study.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "bench/study/presets").glob("*.yaml"))
CONFIGS = sorted((ROOT / "baselines/configs").glob("*.yaml"))
TASKS = {path.stem for path in ROOT.glob("tasks/*/*.yaml") if not path.stem.startswith("_")}


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_every_preset_names_known_tasks_and_valid_configs(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # partition files are named from the repository root, as `make figures` runs
    cells = load_sweep(path).cells()
    assert cells
    for cell in cells:
        assert set(cell.tasks) <= TASKS, cell.tasks
        make_memory(cell.memory, cell.config, cell.seed)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_memory_config_file_builds(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    for name, values in read_memory_file(path):
        make_memory(name, values, 0)


def profiles(config: dict) -> set:
    """The profiles a memory runs: its own, or each part's for a hybrid (which has none of its own)."""
    parts = config.get("parts", [config])
    return {p.get("profile") if isinstance(p, dict) else None for p in parts}


def kind(task: str) -> str:
    """A task's family, sizes dropped: `kmb_phonebook_study_2k` -> `kmb_phonebook`, `kmb_paperqa_longdoc_small`
    -> `kmb_paperqa_longdoc` (each family has one chat-template setting)."""
    return re.sub(r"_study_.*$|_small$", "", task)


@pytest.mark.parametrize("name", ["study", "study-smoke", "study-cpu"])
def test_the_study_presets_run_the_study_protocol(name):
    sweep = load_sweep(ROOT / f"bench/study/presets/{name}.yaml")
    cells = sweep.cells()
    for cell in cells:
        assert cell.memory == "none" or profiles(cell.config) == {"study"}, cell
        kinds = {kind(t) for t in cell.tasks}  # CounterFact plain, the rest in the chat template
        assert kinds in ({"kmb_phonebook"}, {"kmb_counterfact"}, {"kmb_paperqa"}, {"kmb_paperqa_longdoc"}), cell
        # CounterFact plain; ICL and RAG on the study's PhoneBook as its baseline evaluator asks them, plain
        plain = kinds == {"kmb_counterfact"} or (cell.memory in ("icl", "rag") and kinds == {"kmb_phonebook"})
        assert cell.chat_template is (not plain), cell
        assert (cell.resources.num_gpus > 0) == (name == "study"), cell  # Ray puts the full grid on GPUs
    families = {(c.memory, kind(t)) for c in cells for t in c.tasks}
    for memory in ("none", "lora", "icl"):
        assert {(memory, "kmb_phonebook"), (memory, "kmb_counterfact")} <= families
    ranks = {c.config["rank"] for c in cells if c.memory == "lora"}
    q11 = {c.config["modules"] for c in cells if c.memory == "multilora" and c.config["router"] == "all"}
    if name == "study":
        assert ranks == {2**k for k in range(1, 11)} and q11 == {1, 2, 3, 4, 5}
        merges = {c.config["merge"] for c in cells if c.config.get("top_k") == 3}
        assert merges == {"linear", "cat", "cat_rsqrt", "ties", "dare_linear", "dare_ties"}  # the paper's App. O
        assert {c.limit for c in cells} == {None}  # the full study asks every question
    elif name == "study-cpu":  # the full protocol on 2 CPU cores: every LoRA cell at the study's 1,500 steps
        capacity = {c.config["rank"] for c in cells if c.memory == "lora" and kind(c.tasks[0]) != "kmb_paperqa"}
        assert capacity == {8, 64} and not sweep.forgetting and {c.limit for c in cells} == {None}
        lora = [make_memory(c.memory, c.config, 0).config for c in cells if c.memory == "lora"]
        assert {(cfg.max_steps, cfg.batch_size, cfg.layout) for cfg in lora} == {(1500, 8, "user")}
        # capacity cells in fp32 whatever the machine; PaperQA in 16-bit forwards, as the study's trainer runs it
        precision = {(kind(c.tasks[0]), c.config["precision"]) for c in cells if c.memory == "lora"}
        assert precision == {("kmb_phonebook", "fp32"), ("kmb_counterfact", "fp32"), ("kmb_paperqa", "bf16")}
    else:
        assert ranks == {2, 4} and q11 == {1, 2} and not sweep.forgetting
        capacity = [c for c in cells if kind(c.tasks[0]) in ("kmb_phonebook", "kmb_counterfact")]
        assert {c.config["max_steps"] for c in capacity if c.memory in ("lora", "multilora")} == {25}
        assert {c.limit for c in capacity} == {None}  # capacity asks every question: T_max is over the whole set


def test_the_smoke_preset_runs_paperqa_and_the_long_document_on_a_few_questions():
    """Q4-Q7 and Q12-Q15 at smoke size: every entry limited (256-token answers are slow on a CPU),
    LoRA on the study's own QA pairs, modules cut inside the one document by the study's 768/77 window."""
    cells = load_sweep(ROOT / "bench/study/presets/study-smoke.yaml").cells()
    paperqa = [c for c in cells if c.tasks == ("kmb_paperqa_study_small",)]
    longdoc = [c for c in cells if c.tasks == ("kmb_paperqa_longdoc_small",)]
    assert {c.memory for c in paperqa} == {"none", "icl", "rag", "lora"}
    assert [c.memory for c in longdoc] == ["multilora"]  # none, ICL, RAG there would repeat PaperQA's rows
    for cell in paperqa + longdoc:
        assert cell.limit is not None and 1 <= cell.limit <= 8, cell
        assert cell.chat_template is True and (cell.memory == "none" or cell.config["profile"] == "study"), cell
    [lora] = [c for c in paperqa if c.memory == "lora"]
    assert lora.config["format"] == "study_qa40" and lora.config["max_steps"] <= 3 and lora.config["rank"] in (2, 4)
    [windows] = longdoc
    assert windows.config["split"] == "window" and windows.config["router"] == "oracle"
    assert (windows.config["window_tokens"], windows.config["window_overlap"]) == (768, 77)
    assert windows.config["max_steps"] <= 2
    assert "kmb_counterfact_study_2k" not in {t for c in cells for t in c.tasks}  # left out to fit 30 minutes
