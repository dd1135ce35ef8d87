"""One contract, every registered memory (peft's TEST_CASES style), on the tiny model."""

from __future__ import annotations

import pytest
import torch

from baselines import MEMORIES, make_memory
from bench.answer.reader import Reader
from bench.core.memory import Query, Recall
from bench.model.adapters import adapters_active, loaded_adapters, unload_adapters
from bench.model.packing import count_tokens

LORA = {"epochs": 2, "rank": 4, "batch_size": 4}
FAST = {
    "lora": LORA,
    "rag": {"top_k": 2},
    "multilora": {**LORA, "modules": 2, "router": "embedding"},
    "hybrid": {"parts": [{"memory": "lora", **LORA}, "rag"]},
}
QUERIES = [Query("Question: What is the phone number of Ada Stone? Answer:", "d0"), Query("Question: Who is Cy Marsh?")]


@pytest.mark.parametrize("name", sorted(MEMORIES))
def test_memory_contract(name, tiny_model, corpus):
    memory = make_memory(name, FAST.get(name, {}), seed=0)
    memory.write(corpus, tiny_model)
    # what the write installed is what the model holds, each a saved adapter (the evaluation checks it too)
    assert set(memory.installed()) == set(loaded_adapters(tiny_model))
    assert all((folder / "adapter_config.json").is_file() for folder in memory.installed().values())
    assert bool(memory.installed()) == memory.traits.installs_adapters
    budget = 40
    recalls = memory.recall(QUERIES, budget)
    assert len(recalls) == len(QUERIES)
    for recall in recalls:
        assert isinstance(recall, Recall)
        assert count_tokens(tiny_model.tokenizer, recall.context) <= budget
        assert set(recall.adapters) <= set(loaded_adapters(tiny_model))
    fp = memory.footprint()
    assert fp.storage_bytes >= 0 and fp.trainable_params >= 0 and fp.write_tokens >= 0
    answers = Reader(tiny_model, batch_size=2).generate([q.text for q in QUERIES], recalls, budget, ["\n"], 4)
    assert [a.context_tokens <= budget for a in answers] == [True, True]
    assert all(a.prompt_tokens > 0 and a.seconds >= 0 for a in answers)
    unload_adapters(tiny_model)
    assert loaded_adapters(tiny_model) == []


def test_icl_reports_what_the_budget_cut(tiny_model, corpus):
    memory = make_memory("icl", {}, seed=0)
    memory.write(corpus, tiny_model)
    small, large = memory.recall([Query("q")], 30)[0], memory.recall([Query("q")], 10_000)[0]
    assert small.dropped > 0 and large.dropped == 0
    assert large.context.count("Question:") == len(corpus.documents)


def test_icl_instruction_leads_the_facts_inside_the_budget(tiny_model, corpus):
    memory = make_memory("icl", {"profile": "study"}, seed=0)
    memory.write(corpus, tiny_model)
    instruction = memory.config.instruction
    lead = count_tokens(tiny_model.tokenizer, instruction) + 1  # the tiny tokenizer spends many on it
    for budget in (lead + 30, lead + 70, 10_000):
        context = memory.recall([Query("q")], budget)[0].context
        assert context.startswith(instruction + "\n") and count_tokens(tiny_model.tokenizer, context) <= budget
    assert memory.recall([Query("q")], lead + 5)[0].context == ""  # no room for a fact: no instruction either


def test_rag_retrieves_the_matching_fact(tiny_model, corpus):
    memory = make_memory("rag", {"top_k": 1}, seed=0)
    memory.write(corpus, tiny_model)
    recalls = memory.recall([Query("What is the phone number of Di Frost?"), Query("phone number of Bo Lind")], 100)
    assert "Di Frost" in recalls[0].context and "Bo Lind" in recalls[1].context


def test_lora_adapter_changes_the_model_and_is_reused(tiny_model, corpus):
    memory = make_memory("lora", FAST["lora"], seed=0)
    memory.write(corpus, tiny_model)
    assert not memory.footprint().cached
    ids = tiny_model.tokenizer(QUERIES[0].text, return_tensors="pt").input_ids.to(tiny_model.device)
    with torch.no_grad():
        with adapters_active(tiny_model, Recall()) as net:
            base = net(input_ids=ids).logits
        with adapters_active(tiny_model, Recall(adapters=("main",))) as net:
            tuned = net(input_ids=ids).logits
    assert not torch.allclose(base, tuned)
    assert (memory.folder / "adapter_config.json").is_file()
    assert (memory.folder / "adapter_model.safetensors").is_file()
    unload_adapters(tiny_model)
    again = make_memory("lora", FAST["lora"], seed=0)
    again.write(corpus, tiny_model)
    assert again.footprint().cached and again.folder == memory.folder
    unload_adapters(tiny_model)


def test_lora_training_is_seeded(tiny_model, corpus, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    weights = []
    for run in range(2):
        monkeypatch.setenv("KMBENCH_CACHE", str(tmp_path / f"cache{run}"))
        memory = make_memory("lora", FAST["lora"], seed=3)
        memory.write(corpus, tiny_model)
        weights.append(load_file(memory.folder / "adapter_model.safetensors"))
        unload_adapters(tiny_model)
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_chat_template_wraps_reading_and_training_alike(tiny_model_dir, corpus):
    from baselines.lora import make_examples
    from bench.model.loading import load_model, render_prompt

    chat = load_model(str(tiny_model_dir), chat_template=True)
    rendered = render_prompt(chat, QUERIES[0].text)
    assert rendered.startswith("<|user|>") and rendered.endswith("<|assistant|>")
    example = make_examples(corpus, chat, make_memory("lora", {}, seed=0).config)[0]
    prompt = chat.tokenizer.decode(example.prompt_ids)
    assert prompt == render_prompt(chat, corpus.documents[0].contents.rsplit(" 212", 1)[0])
    assert chat.tokenizer.decode(example.target_ids, skip_special_tokens=True) == "212-555-0101"


def test_answering_in_the_user_turn_continues_the_line_the_study_trains(tiny_model_dir, corpus):
    """The study trains a PhoneBook line inside the user turn; asked there, the reader's prompt is
    that line's opening token for token, so a stored fact can be completed as it was learned."""
    from baselines.lora import make_examples
    from bench.model.loading import load_model, render_question

    config = make_memory("lora", {"layout": "user", "loss_on": "all"}, seed=0).config
    user = load_model(str(tiny_model_dir), chat_template=True, answer_turn="user")
    line = corpus.documents[0].contents
    trained = make_examples(corpus, user, config)[0].target_ids
    asked = user.tokenizer(render_question(user, line.rsplit(" 212", 1)[0]), add_special_tokens=False).input_ids
    assert trained[: len(asked)] == asked
    assert user.tokenizer.decode(trained[len(asked) :]).startswith(" 212-555-0101")
    closed = load_model(str(tiny_model_dir), chat_template=True)
    assert render_question(closed, line).endswith("<|assistant|>")


def assert_one_forward_gradient(model, cfg, examples, groups, checkpointing=False):
    """The groups' loss, tokens and gradient (with gradient checkpointing where asked) are the
    whole batch's in one plain forward."""
    from peft import get_peft_model

    import baselines.lora as lora

    assert sorted(map(id, examples)) == sorted(id(e) for g in groups for e in g)  # every row, once
    peft_model = get_peft_model(model.model, lora.peft_config(cfg))
    torch.manual_seed(0)
    for p in peft_model.parameters():  # B starts at zero: give it values so A's gradient is not zero too
        if p.requires_grad:
            p.data.normal_(0, 0.05)
    grads, losses, tokens = [], [], []
    pad = model.tokenizer.pad_token_id
    peft_model.train()
    for split, recompute in (([examples], False), (groups, checkpointing)):
        lora.set_checkpointing(peft_model, recompute)
        loss, seen = lora.batch_loss(peft_model, split, pad, model.device)
        grads.append([p.grad.clone() for p in peft_model.parameters() if p.requires_grad])
        losses.append(loss)
        tokens.append(seen)
        peft_model.zero_grad(set_to_none=True)
    lora.set_checkpointing(peft_model, False)
    peft_model.unload()
    assert tokens[0] == tokens[1] == sum(e.length for e in examples)
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(*grads, strict=True))


def test_lora_row_groups_give_the_one_forward_gradient(tiny_model, corpus, monkeypatch):
    """A batch whose logits pass the cap is cut into row groups with the same mean-token gradient."""
    import baselines.lora as lora

    cfg = make_memory("lora", FAST["lora"], seed=0).config
    examples = lora.make_examples(corpus, tiny_model, cfg)[:4]
    vocab = tiny_model.model.get_output_embeddings().weight.shape[0]
    assert lora.row_groups(examples, vocab) == ([examples], False)  # fits: trained exactly as before
    width = max(e.length for e in examples)
    monkeypatch.setattr(lora, "LOGITS_CAP_BYTES", 2 * width * vocab * 4)
    groups, _ = lora.row_groups(examples, vocab)
    assert [len(g) for g in groups] == [2, 2]
    assert_one_forward_gradient(tiny_model, cfg, examples, groups)


def test_lora_a_batch_over_the_memory_budget_is_cut_into_row_groups(tiny_model, corpus):
    """Activations grow with a forward's tokens: past the budget, rows go in groups, same gradient."""
    import baselines.lora as lora

    cfg = make_memory("lora", FAST["lora"], seed=0).config
    examples = lora.make_examples(corpus, tiny_model, cfg)[:4]
    vocab = tiny_model.model.get_output_embeddings().weight.shape[0]
    width = max(e.length for e in examples)
    per_token = 10.0  # checkpointing would save nothing here
    groups, checkpointing = lora.row_groups(
        examples, vocab, lora.MemoryBudget(3 * width * per_token, per_token, per_token)
    )
    assert [len(g) for g in groups] == [3, 1] and not checkpointing
    over = lora.MemoryBudget((width - 1) * per_token, per_token, per_token)  # one row over it still trains, alone
    groups, _ = lora.row_groups(examples, vocab, over)
    assert [len(g) for g in groups] == [1, 1, 1, 1]
    assert_one_forward_gradient(tiny_model, cfg, examples, groups)


def test_gradient_checkpointing_keeps_a_batch_whole_under_the_budget_with_the_same_gradient(tiny_model, corpus):
    import baselines.lora as lora

    cfg = make_memory("lora", FAST["lora"], seed=0).config
    examples = lora.make_examples(corpus, tiny_model, cfg)[:4]
    vocab = tiny_model.model.get_output_embeddings().weight.shape[0]
    width = max(e.length for e in examples)
    budget = lora.MemoryBudget(4 * width * 2.0, 10.0, 2.0)  # the batch fits only if checkpointed
    groups, checkpointing = lora.row_groups(examples, vocab, budget)
    assert groups == [examples] and checkpointing
    assert_one_forward_gradient(tiny_model, cfg, examples, groups, checkpointing=True)


def test_training_memory_follows_the_model_shape(tiny_model):
    """About 3.5 MB a token for SmolLM2-135M's shape (2.9-3.6 measured), 1.3 with checkpointing (1.2-1.6)."""
    from transformers import LlamaConfig

    import baselines.lora as lora
    from bench.model.cost import training_bytes_per_token

    smollm2 = LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, vocab_size=49152)
    assert 2.9e6 < training_bytes_per_token(smollm2) < 3.6e6
    assert 1.2e6 < training_bytes_per_token(smollm2, checkpointing=True) < training_bytes_per_token(smollm2) / 2
    wider = LlamaConfig(hidden_size=1152, intermediate_size=3072, num_hidden_layers=30, vocab_size=49152)
    assert training_bytes_per_token(wider) > 1.5 * training_bytes_per_token(smollm2)
    budget = lora.MemoryBudget.for_model(tiny_model.model, 1000)
    assert budget.bytes < 8e9 and budget.per_token_checkpointed < budget.per_token


def test_lora_a_page_among_lines_is_not_padded_into_every_row(tiny_model, corpus):
    """A long text in a batch of short ones trains in its own group, with the same gradient."""
    import baselines.lora as lora

    cfg = make_memory("lora", FAST["lora"], seed=0).config
    lines = lora.make_examples(corpus, tiny_model, cfg)[:4]
    page = lora.Example(lines[0].prompt_ids, lines[0].target_ids * 60)
    examples = [lines[0], page, *lines[1:]]
    vocab = tiny_model.model.get_output_embeddings().weight.shape[0]
    assert lora.padded_share(lines) <= lora.PADDING_LIMIT < lora.padded_share(examples)
    assert lora.row_groups(lines, vocab) == ([lines], False)  # one kind of text: one group, in its order
    groups, _ = lora.row_groups(examples, vocab)
    assert [page] in groups and len(groups) == 2
    assert_one_forward_gradient(tiny_model, cfg, examples, groups)


def test_an_evaluation_refuses_a_memory_that_hides_an_adapter(tiny_model, corpus):
    """An adapter put on the model but not declared by `installed()` would outlive its evaluation unseen."""
    from bench.run.evaluation import check_installed

    memory = make_memory("lora", LORA, seed=0)
    memory.write(corpus, tiny_model)
    check_installed(memory, tiny_model)  # declared: fine
    none = make_memory("none", {}, seed=0)
    with pytest.raises(RuntimeError, match="says it installed"):
        check_installed(none, tiny_model)  # the closed book declares nothing, yet an adapter is on
    unload_adapters(tiny_model)
