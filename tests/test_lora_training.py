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


def _stop_then_resume(model, examples, cfg: LoRAConfig, tmp_path, at: int) -> dict:
    """Kills a write with checkpoints every 2 steps just before step `at`, then resumes it in `resumed/`."""

    def die(step: int, tokens: int, _model) -> bool:
        if step == at:
            raise Killed
        return False

    checkpoint = tmp_path / "cell.checkpoint.pt"
    with pytest.raises(Killed):
        train_adapter(model, examples, cfg, tmp_path / "stopped", die, checkpoint, checkpoint_every=2)
    assert checkpoint.is_file()
    assert not any(n.startswith("base_model") for n, _ in model.model.named_modules())  # peft took off
    torch.manual_seed(12345)  # whatever the process did since, the resumed run restores its own RNG
    return train_adapter(model, examples, cfg, tmp_path / "resumed", checkpoint=checkpoint, checkpoint_every=2)


def test_a_stopped_write_resumes_to_the_uninterrupted_result(tiny_model, corpus, tmp_path):
    cfg = _config()
    examples = make_examples(corpus, tiny_model, cfg)  # 6 lines at batch 2: the stop falls inside an epoch
    whole = train_adapter(tiny_model, examples, cfg, tmp_path / "whole")
    resumed = _stop_then_resume(tiny_model, examples, cfg, tmp_path, at=5)

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


def test_distill_loss_is_zero_for_the_teacher_itself_and_grows_apart():
    from bench.model.distill import distill_loss

    torch.manual_seed(0)
    logits, hidden = torch.randn(5, 11), [torch.randn(5, 4) for _ in range(3)]
    same, kl, l1 = distill_loss(logits, logits.clone(), hidden, [h.clone() for h in hidden], 2.0, 0.1)
    assert same.item() == pytest.approx(0.0, abs=1e-6) and kl == pytest.approx(0.0, abs=1e-6) and l1 == 0.0
    apart, kl, l1 = distill_loss(logits, logits + torch.randn(5, 11), hidden, [h + 1 for h in hidden], 2.0, 0.1)
    assert kl > 0 and l1 > 0 and apart.item() == pytest.approx(kl + 0.1 * l1, rel=1e-5)


def test_dcd_teacher_reads_the_window_that_holds_each_document(tiny_model, corpus):
    from bench.model.packing import count_tokens

    window = 2 * max(count_tokens(tiny_model.tokenizer, d.contents) for d in corpus.documents) + 1  # two lines
    cfg = make_memory("dcd", {"dcd_context_tokens": window}, seed=0).config
    examples = make_examples(corpus, tiny_model, cfg)
    plain = make_examples(corpus, tiny_model, _config())
    assert [e.target_ids for e in examples] == [e.target_ids for e in plain]  # the student learns the same text
    windows = {tuple(e.context_ids) for e in examples}
    assert len(windows) == 3  # six lines, two a window
    for doc, example in zip(corpus.documents, examples, strict=True):
        context = tiny_model.tokenizer.decode(example.context_ids)
        assert doc.contents in context and len(example.context_ids) <= window + 2  # its window, plus the blank line


def test_dcd_trains_the_adapter_toward_the_teacher_and_counts_the_teacher(tiny_model, corpus, tmp_path):
    cfg = make_memory("dcd", {"rank": 4, "max_steps": 12, "batch_size": 3, "lr": 1e-2}, seed=0).config
    log = train_adapter(tiny_model, make_examples(corpus, tiny_model, cfg), cfg, tmp_path / "dcd")
    assert log["losses"][-1] < log["losses"][0]
    assert log["teacher_tokens"] > log["tokens"]  # the teacher reads the context too
    lora_b = [t for k, t in _weights(tmp_path / "dcd").items() if "lora_B" in k]
    assert any(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: the adapter moved


def test_dcd_teacher_taught_once_trains_as_the_teacher_taught_every_step(tiny_model, corpus, tmp_path):
    cfg = make_memory("dcd", {"rank": 4, "max_steps": 6, "batch_size": 3, "lr": 1e-2}, seed=0).config
    examples = make_examples(corpus, tiny_model, cfg)
    every = train_adapter(tiny_model, examples, cfg, tmp_path / "every", teacher_cache_bytes=0)
    once = train_adapter(tiny_model, examples, cfg, tmp_path / "once")
    assert every["teacher_cached"] == 0 and once["teacher_cached"] == len(examples)
    # six steps of three rows: the teacher reads each example's context once instead of three times
    assert once["teacher_tokens"] * 3 == every["teacher_tokens"] and once["tokens"] == every["tokens"]
    assert once["losses"] == pytest.approx(every["losses"], rel=1e-4)
    a, b = _weights(tmp_path / "every"), _weights(tmp_path / "once")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    part = train_adapter(tiny_model, examples, cfg, tmp_path / "part", teacher_cache_bytes=1)
    assert part["teacher_cached"] == 0  # not even one example's outputs fit: every batch teaches


def test_dcd_resumes_to_the_uninterrupted_result(tiny_model, corpus, tmp_path):
    cfg = make_memory("dcd", {"rank": 4, "max_steps": 6, "batch_size": 2, "lr": 1e-2}, seed=0).config
    examples = make_examples(corpus, tiny_model, cfg)
    whole = train_adapter(tiny_model, examples, cfg, tmp_path / "whole")
    resumed = _stop_then_resume(tiny_model, examples, cfg, tmp_path, at=3)
    assert resumed["resumed_at"] == 2 and resumed["losses"] == whole["losses"]
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_dcd_teacher_drops_nothing_out_while_the_student_trains(tiny_model, corpus):
    """The study's trainer keeps its teacher in eval mode: with the base model's attention dropout on,
    the teacher still gives the same outputs every time, and the student is back in training after."""
    from peft import get_peft_model

    from baselines.lora import peft_config, teach

    cfg = make_memory("dcd", {"rank": 4}, seed=0).config
    examples = make_examples(corpus, tiny_model, cfg)[:2]
    pad_id = tiny_model.tokenizer.pad_token_id
    attention = [m for m in tiny_model.model.modules() if hasattr(m, "attention_dropout")]
    before = [m.attention_dropout for m in attention]
    model = get_peft_model(tiny_model.model, peft_config(cfg, tiny_model.model))
    try:
        for m in attention:
            m.attention_dropout = 0.5
        model.train()
        ids = torch.tensor([examples[0].prompt_ids + examples[0].target_ids])
        assert not torch.equal(model(ids).logits, model(ids).logits)  # training drops out: the test can fail
        first, _ = teach(model, examples, pad_id, "cpu", cfg)
        second, _ = teach(model, examples, pad_id, "cpu", cfg)
        assert model.training and all(torch.equal(a.logits, b.logits) for a, b in zip(first, second, strict=True))
    finally:
        for m, p in zip(attention, before, strict=True):
            m.attention_dropout = p
        model.unload()


def test_the_study_profile_trains_as_the_study_code_does(tiny_model, corpus, tmp_path, monkeypatch):
    """What the trainer hands torch and peft under `profile: study`, against the study's own
    objects: AdamW(lr) with torch's default decay, CosineAnnealingLR(T_max=steps, eta_min=0) stepped
    after each update, clipping at 1.0 (1_GRID_SEARCH/src/trainers/ntp_trainer.py), and the
    LoraConfig of 1_GRID_SEARCH/scripts/generate_llama_grid_configs.py."""
    import math

    import baselines.lora

    seen: dict = {"lr": [], "clip": []}
    adamw, clip, to_peft = torch.optim.AdamW, torch.nn.utils.clip_grad_norm_, baselines.lora.peft_config

    class SpyAdamW(adamw):
        def __init__(self, params, **kwargs):
            seen["adamw"] = kwargs
            super().__init__(params, **kwargs)

        def step(self, closure=None):
            seen["lr"].append(self.param_groups[0]["lr"])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "AdamW", SpyAdamW)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda p, m: seen["clip"].append(m) or clip(p, m))

    def spy_peft(cfg, model=None):
        lora = to_peft(cfg, model)  # peft rewrites target_modules once it has found them: keep what it was given
        seen["peft"] = (lora.r, lora.lora_alpha, lora.lora_dropout, lora.target_modules)
        return lora

    monkeypatch.setattr(baselines.lora, "peft_config", spy_peft)
    cfg = make_memory("lora", {"profile": "study", "rank": 4, "max_steps": 5}, seed=0).config
    train_adapter(tiny_model, make_examples(corpus, tiny_model, cfg), cfg, tmp_path / "study")

    reference = adamw([torch.nn.Parameter(torch.zeros(1))], lr=5e-5)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=5, eta_min=0)
    expected = []
    for _ in range(5):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        schedule.step()
    assert seen["adamw"] == {"lr": 5e-5, "weight_decay": 0.01} and seen["lr"] == pytest.approx(expected)
    assert seen["clip"] == [1.0] * 5 and not math.isclose(expected[1], expected[0])
    assert seen["peft"] == (4, 4, 0.1, "all-linear")


def test_study_icl_and_rag_contexts_are_the_study_prompt(tiny_model, corpus):
    from baselines.profiles import STUDY_INSTRUCTION
    from bench.core.memory import Query

    lines = [d.contents for d in corpus.documents]
    icl = make_memory("icl", {"profile": "study"}, seed=0)
    icl.write(corpus, tiny_model)
    assert icl.recall([Query("q")], 10_000)[0].context == f"{STUDY_INSTRUCTION}\n{''.join(lines)}"
    rag = make_memory("rag", {"profile": "study", "chunk_tokens": 60}, seed=0)
    rag.write(corpus, tiny_model)  # 60-token windows over the file: each cuts across lines
    context = rag.recall([Query(f"What is the phone number of {corpus.documents[0].contents}")], 10_000)[0].context
    chunks = context.removeprefix(f"{STUDY_INSTRUCTION}\n").split("\n\n")
    assert context.startswith(STUDY_INSTRUCTION) and len(chunks) == 3
    assert all(c in "\n".join(lines) for c in chunks) and any("\n" in c for c in chunks)


def test_dcd_teacher_reads_the_source_a_synthetic_document_was_written_from(tiny_model, corpus):
    from bench.parts.synth import internalize

    cfg = make_memory("dcd", {"format": "qa2", "generator": "template"}, seed=0).config
    training = internalize(corpus, cfg.format, cfg.generator, tiny_model, 0)
    examples = make_examples(training, tiny_model, cfg, source=corpus)
    assert len(examples) == 2 * len(corpus.documents)
    by_id = {d.id: d.contents for d in corpus.documents}
    for doc, example in zip(training.documents, examples, strict=True):
        assert by_id[doc.id.split("/")[0]] in tiny_model.tokenizer.decode(example.context_ids)


def test_chosen_layers_get_adapters_and_the_others_none(tiny_model, corpus, tmp_path):
    """The study's selective-layer ablation (src/trainers/ablation_trainer.py): `--set lora.layers=0`."""
    cfg = make_memory("lora", {"layers": "1", "rank": 2, "max_steps": 2}, seed=0).config  # as --set gives it
    assert cfg.layers == (1,)
    train_adapter(tiny_model, make_examples(corpus, tiny_model, cfg), cfg, tmp_path / "layer1")
    names = list(_weights(tmp_path / "layer1"))
    assert names and all(".layers.1." in n for n in names)
    assert {n.split(".layers.1.")[1].split(".lora")[0] for n in names} >= {"self_attn.q_proj", "mlp.down_proj"}


def test_bad_layers_are_one_line_errors():
    from bench.core.errors import UserError

    with pytest.raises(UserError, match=r"lora\.layers: cannot read 'x' as int"):
        make_memory("lora", {"layers": "x,y"}, seed=0)
    with pytest.raises(UserError, match=r"lora\.layers: cannot read 1\.5 as int"):
        make_memory("lora", {"layers": [1.5]}, seed=0)
    with pytest.raises(UserError, match=r"lora\.rank: cannot read '8x' as int"):
        make_memory("lora", {"rank": "8x"}, seed=0)
    with pytest.raises(UserError, match=r"lora\.dropout: cannot read 'high' as float"):
        make_memory("lora", {"dropout": "high"}, seed=0)
