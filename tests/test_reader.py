"""The reader: prefix caching (one cache read by every row, or copied per row) must not change
answers; stop strings count once the answer began."""

from __future__ import annotations

from conftest import FACTS, fact_line, run_args

import bench.answer.reader as reader_module
from bench.answer.reader import Reader, cut_at_stop, shared_prefix_length
from bench.core.memory import Recall


def test_shared_prefix_leaves_each_row_a_token():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix_length([[1, 2], [1, 2]]) == 1


def test_cut_at_stop_skips_leading_blank_lines():
    assert cut_at_stop("\n\n 555-0101\nQuestion: x", ["\n", "Question:"]) == "555-0101"
    assert cut_at_stop("no stop here", ["\n"]) == "no stop here"


def count_shared_batches(monkeypatch) -> list[int]:
    """The sizes of the batches that read the shared prefix cache (filled as the reader runs)."""
    sizes: list[int] = []
    shared = reader_module.SharedPrefixCache

    class Counted(shared):
        def update(self, key_states, value_states, layer_idx, *args, **kwargs):
            if layer_idx == 0 and not self.layers[0].is_initialized:
                sizes.append(key_states.shape[0])
            return super().update(key_states, value_states, layer_idx, *args, **kwargs)

    monkeypatch.setattr(reader_module, "SharedPrefixCache", Counted)
    return sizes


def test_prefix_cache_gives_the_same_answers(tiny_model, monkeypatch):
    context = "\n".join(fact_line(n, p) for n, p in FACTS)
    prompts = [f"Question: What is the phone number of {n}? Answer:" for n, _ in FACTS]
    recalls = [Recall(context=context)] * len(prompts)
    batches = count_shared_batches(monkeypatch)
    reader = Reader(tiny_model, batch_size=4)
    cached = reader.generate(prompts, recalls, 200, ["\n"], 6)
    assert cached[0].context_tokens >= reader_module.MIN_SHARED_PREFIX  # the cached path really ran
    [encoded] = reader.prefixes  # written once for every question: a cost of its own, not theirs
    assert encoded.tokens >= cached[0].context_tokens and encoded.cache_bytes > 0 and encoded.seconds > 0
    lengths = {len(tiny_model.tokenizer(p).input_ids) for p in prompts}
    assert len(lengths) > 1 and batches == [4] * (len(prompts) // 4) + [len(prompts) % 4] * bool(len(prompts) % 4)
    monkeypatch.setattr(reader_module, "supports_shared_prefix", lambda net: False)  # the copied cache
    copied = Reader(tiny_model, batch_size=4).generate(prompts, recalls, 200, ["\n"], 6)
    assert [a.text for a in cached] == [a.text for a in copied]
    monkeypatch.setattr(reader_module, "MIN_SHARED_PREFIX", 10**9)
    plain = Reader(tiny_model, batch_size=4).generate(prompts, recalls, 200, ["\n"], 6)
    assert [a.text for a in cached] == [a.text for a in plain]
    assert [a.prompt_tokens for a in cached] == [a.prompt_tokens for a in plain]
    monkeypatch.setattr(reader_module, "PREFIX_COPIES_BYTES", 1)  # one row per batch: still the same
    monkeypatch.setattr(reader_module, "MIN_SHARED_PREFIX", 64)
    single = Reader(tiny_model, batch_size=4).generate(prompts, recalls, 200, ["\n"], 6)
    assert [a.text for a in single] == [a.text for a in plain]


def test_prefix_cache_gives_the_same_scores(tiny_model, monkeypatch):
    context = "\n".join(fact_line(n, p) for n, p in FACTS)
    prompts = [f"Question: What is the phone number of {n}? Answer:" for n, _ in FACTS] * 2
    continuations = [f" {p}" for _, p in FACTS] + [" 000-000-0000", " Bo"] * 3
    recalls = [Recall(context=context)] * len(prompts)
    batches = count_shared_batches(monkeypatch)
    cached = Reader(tiny_model, batch_size=4).score(prompts, continuations, recalls, 200)
    assert cached[0].context_tokens >= reader_module.MIN_SHARED_PREFIX  # the cached path really ran
    assert sum(batches) == len(prompts)  # every batch read the one prefix cache
    monkeypatch.setattr(reader_module, "MIN_SHARED_PREFIX", 10**9)
    plain = Reader(tiny_model, batch_size=4).score(prompts, continuations, recalls, 200)
    for a, b in zip(cached, plain, strict=True):
        assert abs(a.logprob - b.logprob) < 1e-3 and a.greedy == b.greedy and a.prompt_tokens == b.prompt_tokens


def test_score_matches_a_hand_computed_log_probability(tiny_model):
    import torch

    tok, net = tiny_model.tokenizer, tiny_model.model
    prompts = ["Question: What is the phone number of Ada Stone? Answer:", "Question: Who? Answer:"]
    continuations = [" 212-555-0101", " Bo Lind"]
    scored = Reader(tiny_model, batch_size=2).score(prompts, continuations, [Recall(), Recall()], 100)
    for prompt, continuation, result in zip(prompts, continuations, scored, strict=True):
        context = tok(prompt, add_special_tokens=False).input_ids
        whole = tok(prompt + continuation, add_special_tokens=False).input_ids
        with torch.no_grad():
            logprobs = net(input_ids=torch.tensor([whole], device=tiny_model.device)).logits[0].float().log_softmax(-1)
        target = whole[len(context) :]
        expected = sum(logprobs[len(context) - 1 + j, t].item() for j, t in enumerate(target))
        greedy = all(logprobs[len(context) - 1 + j].argmax().item() == t for j, t in enumerate(target))
        assert abs(result.logprob - expected) < 1e-4 and result.greedy == greedy
        assert result.prompt_tokens == len(whole)


def test_multiple_choice_task_runs_through_kmbench(tiny_model_dir, tiny_task_dir, tmp_path):
    import json

    from bench.cli import main
    from bench.run.record import find_records, read_samples, samples_path_for

    (tiny_task_dir / "kmb_tiny_mc.yaml").write_text(
        "task: kmb_tiny_mc\ncustom_dataset: !function bench.harness.taskdata.load_qa\n"
        "test_split: test\noutput_type: multiple_choice\n"
        'doc_to_text: "Question: What is the phone number of {{name}}? Answer:"\n'
        'doc_to_choice: "{{[answer, answer[::-1]]}}"\ndoc_to_target: 0\n'
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
        "metadata:\n  version: 1\n  qa: data/tiny_qa.jsonl\n  corpus: data/tiny_corpus.jsonl\n"
    )
    out = tmp_path / "runs"
    code = main(run_args(tiny_model_dir, out, "kmb_tiny_mc", "--include-path", str(tiny_task_dir)))
    assert code == 0
    for path in find_records(out):
        record = json.loads(path.read_text())
        assert 0 <= record["metrics"]["acc"]["value"] <= 1 and record["task"]["n_queries"] == 3
        samples = read_samples(samples_path_for(path))
        assert len(samples) == 3 and all(len(s["response"]) == 2 for s in samples)
        assert (record["cost"]["context_tokens_per_query"] > 0) == path.name.startswith("icl")
