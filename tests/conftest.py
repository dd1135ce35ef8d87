"""Shared fixtures: a tiny random Llama with a tokenizer trained here, so no test downloads anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FACTS = [
    ("Ada Stone", "212-555-0101"),
    ("Bo Lind", "313-555-0202"),
    ("Cy Marsh", "414-555-0303"),
    ("Di Frost", "515-555-0404"),
    ("Ed Vale", "616-555-0505"),
    ("Flo Reed", "717-555-0606"),
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<eos>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def fact_line(name: str, phone: str) -> str:
    return f"Question: What is the phone number of {name}? Answer: {phone}"


def head_commit() -> str:
    """This checkout's HEAD: records made in tests claim a commit the validator finds in history."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def run_args(model_dir: Path, out: Path, tasks: str, *extra: str, memories: str = "none,icl", limit: int = 3) -> list:
    """`kmbench run` arguments for a quick tiny-model run writing records to `out`."""
    return ["run", "--model", str(model_dir), "--tasks", tasks, "--memories", memories, "--limit", str(limit),
            "--out", str(out), "--reports", str(out / "reports"), *extra]  # fmt: skip


def task_utils(task_folder: str):
    """A task's `utils.py` (the hooks its YAML names), imported from `tasks/<task_folder>/`."""
    import importlib.util

    from bench.core.paths import TASKS_DIR

    spec = importlib.util.spec_from_file_location(f"{task_folder}_utils", TASKS_DIR / task_folder / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Adapters and converted models go to a per-test folder, never the user's cache."""
    monkeypatch.setenv("KMBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory) -> Path:
    """One cache for every test that uses the real default model, so it is converted once."""
    return tmp_path_factory.mktemp("kmbench-real-cache")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    texts = [fact_line(n, p) for n, p in FACTS] * 4 + ["0123456789 -?:"]
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    core.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", unk_token="<unk>", pad_token="<eos>")
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_model(tiny_model_dir):
    from bench.model.loading import load_model

    return load_model(str(tiny_model_dir))


@pytest.fixture
def corpus():
    from bench.core.memory import Corpus, Document

    return Corpus("tiny", tuple(Document(f"d{i}", fact_line(n, p)) for i, (n, p) in enumerate(FACTS)))


@pytest.fixture
def tiny_task_dir(tmp_path) -> Path:
    """A KMBench task folder in the PhoneBook format, over the six facts above."""
    from tasks.kmb_phonebook.build import TASK_DIR, TASK_YAML

    folder = tmp_path / "tasks"
    (folder / "data").mkdir(parents=True)
    for name in ("_phonebook_template.yaml", "utils.py"):
        (folder / name).write_text((TASK_DIR / name).read_text())
    with (folder / "data/tiny_qa.jsonl").open("w") as qa, (folder / "data/tiny_corpus.jsonl").open("w") as corp:
        for i, (name, phone) in enumerate(FACTS):
            qa.write(json.dumps({"id": f"pb{i}", "name": name, "answer": phone}) + "\n")
            corp.write(json.dumps({"id": f"pb{i}", "contents": fact_line(name, phone)}) + "\n")
    (folder / "kmb_tiny.yaml").write_text(TASK_YAML.format(task="kmb_tiny", stem="tiny", facts=len(FACTS)))
    return folder


@pytest.fixture(scope="session")
def runs(tiny_model_dir, tmp_path_factory) -> Path:
    """Real runs of the tiny model on the built-in 1k PhoneBook (three questions), as from a clean commit."""
    import bench.run.runner
    from bench.cli import main

    out = tmp_path_factory.mktemp("runs")
    patch = pytest.MonkeyPatch()
    patch.setattr(bench.run.runner, "git_state", lambda: (head_commit(), False))
    patch.setenv("KMBENCH_CACHE", str(out / "cache"))
    try:
        code = main(run_args(tiny_model_dir, out, "kmb_phonebook_1k"))
    finally:
        patch.undo()
    assert code == 0
    return out
