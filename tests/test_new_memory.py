"""Adding a memory takes one file and one entry in the registry: proved with a toy backend.

The test copies `baselines/` aside, drops in `toy.py` (the whole backend), registers it in
`baselines/__init__.py`, and runs the real CLI on that copy: `kmbench ls` lists it and
`kmbench run` writes a record for it, with its traits used for the retention decision.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import run_args

ROOT = Path(__file__).resolve().parents[1]

TOY = '''"""Keyword memory: the documents that share the most words with the question, as context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.core.config import check
from bench.core.memory import Corpus, LoadedModel, Memory, Query, Recall, Traits


@dataclass(frozen=True)
class KeywordConfig:
    top_k: int = 1

    def __post_init__(self) -> None:
        check(self.top_k > 0, "top_k must be positive")


class KeywordMemory(Memory):
    """A retriever without embeddings: word overlap decides."""

    name = "keyword"
    traits = Traits(family="context", order=6, color="#17becf")
    config_class = KeywordConfig

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        self.docs = [d.contents for d in corpus.documents]

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        def overlap(doc: str, text: str) -> int:
            return len(set(doc.lower().split()) & set(text.lower().split()))

        best = [sorted(self.docs, key=lambda d: -overlap(d, q.text))[: self.config.top_k] for q in queries]
        return [Recall(context="\\n".join(docs)) for docs in best]
'''


def register(package: Path) -> None:
    """The one registry entry: import the class and list it."""
    init = package / "__init__.py"
    text = init.read_text()
    anchor = "from baselines.hybrid import HybridMemory\n"
    assert anchor in text and "HybridMemory])" in text
    text = text.replace(anchor, anchor + "from baselines.keyword import KeywordMemory\n")
    init.write_text(text.replace("HybridMemory])", "HybridMemory, KeywordMemory])"))


def test_a_memory_is_one_file_and_one_registry_entry(tmp_path, tiny_model_dir):
    plugin = tmp_path / "plugin"
    shutil.copytree(ROOT / "baselines", plugin / "baselines", ignore=shutil.ignore_patterns("__pycache__"))
    (plugin / "baselines" / "keyword.py").write_text(TOY)
    register(plugin / "baselines")
    out = tmp_path / "runs"
    args = run_args(tiny_model_dir, out, "kmb_phonebook_1k", memories="keyword", limit=2)
    script = f"import sys; from bench.cli import main; sys.exit(main(['ls']) or main({args!r}))"
    env = {**os.environ, "PYTHONPATH": f"{plugin}{os.pathsep}{ROOT}", "KMBENCH_CACHE": str(tmp_path / "cache")}
    # run from tmp_path, not ROOT, whose own baselines/ would come first on sys.path
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "keyword" in done.stdout  # `kmbench ls` lists it with its docstring
    records = sorted((out / "records").rglob("keyword-*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["memory"]["name"] == "keyword" and record["task"]["n_queries"] == 2
    assert record["forgetting"] is None  # its traits say it installs no adapters: no probe
