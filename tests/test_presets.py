"""The shipped grids and comparisons are valid before anyone spends hours on them: every preset and
every memory config file parses, names tasks that exist and builds each memory's config; the
study presets keep the study's protocol (profile, chat template per task family, GPU requests)."""

from __future__ import annotations

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


@pytest.mark.parametrize("name", ["study", "study-smoke"])
def test_the_study_presets_run_the_study_protocol(name):
    sweep = load_sweep(ROOT / f"bench/study/presets/{name}.yaml")
    cells = sweep.cells()
    for cell in cells:
        assert cell.memory == "none" or profiles(cell.config) == {"study"}, cell
        kinds = {t.split("_study_")[0] for t in cell.tasks}  # CounterFact plain, the rest in the chat template
        assert kinds in ({"kmb_phonebook"}, {"kmb_counterfact"}, {"kmb_paperqa"}, {"kmb_paperqa_longdoc"}), cell
        assert cell.chat_template is (kinds != {"kmb_counterfact"}), cell
        assert (cell.resources.num_gpus > 0) == (name == "study"), cell  # Ray puts the full grid on GPUs
    families = {(c.memory, t.split("_study_")[0]) for c in cells for t in c.tasks}
    for memory in ("none", "lora", "icl"):
        assert {(memory, "kmb_phonebook"), (memory, "kmb_counterfact")} <= families
    ranks = {c.config["rank"] for c in cells if c.memory == "lora"}
    q11 = {c.config["modules"] for c in cells if c.memory == "multilora" and c.config["router"] == "all"}
    if name == "study":
        assert ranks == {2**k for k in range(1, 11)} and q11 == {1, 2, 3, 4, 5}
        assert {c.config["merge"] for c in cells if c.config.get("top_k") == 3} == {"linear", "cat", "ties"}
    else:
        assert ranks == {2, 4} and q11 == {1, 2} and not sweep.forgetting
        assert {c.config["max_steps"] for c in cells if c.memory in ("lora", "multilora")} == {25}
