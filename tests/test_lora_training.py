"""LoRA writes that survive a stop, the study's line layout, and bf16 training, on the tiny model."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from baselines.lora import LoRAConfig, collate, make_examples, train_adapter
from bench.run.memories import make_memory


class Killed(Exception):
    """Stands for a kill -9 after a step: the process loses everything not on disk."""


def _config(**fields) -> LoRAConfig:
    base = {"rank": 2, "max_steps": 7, "batch_size": 2, "dropout": 0.1, "lr": 1e-2, "weight_decay": 0.01}
    return make_memory("lora", {**base, **fields}, seed=3).config


def _weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "adapter_model.safetensors"))


def test_a_stopped_write_resumes_to_the_uninterrupted_result(tiny_model, corpus, tmp_path):
    cfg = _config()
    examples = make_examples(corpus, tiny_model, cfg)  # 6 lines at batch 2: the stop falls inside an epoch
    whole = train_adapter(tiny_model, examples, cfg, tmp_path / "whole")

    def die_at_5(step: int, tokens: int, model) -> bool:
        if step == 5:
            raise Killed
        return False

    checkpoint = tmp_path / "cell.checkpoint.pt"
    with pytest.raises(Killed):
        train_adapter(tiny_model, examples, cfg, tmp_path / "stopped", die_at_5, checkpoint, checkpoint_every=2)
    assert checkpoint.is_file()
    assert not any(n.startswith("base_model") for n, _ in tiny_model.model.named_modules())  # peft took off
    torch.manual_seed(12345)  # whatever the process did since, the resumed run restores its own RNG
    resumed = train_adapter(tiny_model, examples, cfg, tmp_path / "resumed", checkpoint=checkpoint, checkpoint_every=2)

    assert resumed["resumed_at"] == 4
    assert resumed["losses"] == whole["losses"] and resumed["tokens"] == whole["tokens"]
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_from_another_shape_is_ignored(tiny_model, corpus, tmp_path):
    examples = make_examples(corpus, tiny_model, _config())
    checkpoint = tmp_path / "cell.checkpoint.pt"
    train_adapter(tiny_model, examples, _config(rank=4, max_steps=3), tmp_path / "r4", None, checkpoint, 2)
    log = train_adapter(tiny_model, examples, _config(max_steps=3), tmp_path / "r2", checkpoint=checkpoint)
    assert "resumed_at" not in log and log["steps"] == 3


def test_the_study_layout_puts_the_whole_line_in_the_user_turn(tiny_model_dir, corpus):
    from bench.model.loading import load_model

    chat = load_model(str(tiny_model_dir), chat_template=True)
    cfg = make_memory("lora", {"profile": "study"}, seed=0).config
    assert (cfg.layout, cfg.schedule, cfg.weight_decay, cfg.loss_on) == ("user", "cosine", 0.01, "all")
    example = make_examples(corpus, chat, cfg)[0]
    text = chat.tokenizer.decode(example.target_ids)
    assert text == f"<|user|>{corpus.documents[0].contents}<eos><|assistant|>"
    labels = collate([example], chat.tokenizer.pad_token_id)["labels"][0].tolist()
    eos = chat.tokenizer.eos_token_id  # the tiny tokenizer's pad is its EOS, as SmolLM2's is
    assert [i for i, t in enumerate(example.target_ids) if t == eos] == [i for i, t in enumerate(labels) if t == -100]


def test_the_study_layout_without_the_template_is_the_line_then_eos(tiny_model, corpus):
    cfg = make_memory("lora", {"profile": "study"}, seed=0).config
    example = make_examples(corpus, tiny_model, cfg)[0]
    assert tiny_model.tokenizer.decode(example.target_ids) == corpus.documents[0].contents + "<eos>"


def test_bf16_training_learns_and_says_so(tiny_model, corpus, tmp_path):
    cfg = _config(precision="bf16", dropout=0.0, max_steps=12)
    log = train_adapter(tiny_model, make_examples(corpus, tiny_model, cfg), cfg, tmp_path / "bf16")
    assert log["precision"] == "bf16"
    assert all(torch.isfinite(torch.tensor(log["losses"])))
    assert log["losses"][-1] < log["losses"][0]
    assert all(t.dtype == torch.float32 for t in _weights(tmp_path / "bf16").values())  # fp32 master weights


@pytest.mark.parametrize(
    "fields, message",
    [({"precision": "fp8"}, "precision must be one of"), ({"layout": "user"}, "layout 'user' learns every token")],
)
def test_bad_training_fields_are_one_line_errors(fields, message):
    from bench.core.errors import UserError

    with pytest.raises(UserError, match=message):
        make_memory("lora", fields, seed=0)
