"""Per-question statistics travel with the question (task, doc_id), never joined on prompt text."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bench.core.memory import Corpus, Document, LoadedModel, Memory, Query, Recall, Routing

DOCS = {
    "short": "Ada Stone: 212-555-0101.",
    "long": "Ada Stone moved; her new number, listed since May, is 313-555-0202.",
}
QUESTION = "Question: What is the phone number of Ada Stone? Answer:"


class GoldContextMemory(Memory):
    """Puts each question's own gold document before it and reports routing to it."""

    name = "gold_context"
    config_class = dict

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        self.docs = {d.id: d.contents for d in corpus.documents}

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        return [Recall(context=self.docs[q.gold_doc], routing=Routing((q.gold_doc,), q.gold_doc)) for q in queries]


def test_same_text_different_gold_keeps_its_own_cost_and_routing(tmp_path, tiny_model):
    import lm_eval

    from bench.answer.lm import MemoryLM
    from bench.answer.reader import Reader
    from bench.harness.taskspec import task_manager
    from bench.run.runner import sample_rows

    rows = [{"id": f"q{i}", "doc_id": gold, "question": QUESTION, "answer": "x"} for i, gold in enumerate(DOCS)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "kmb_dupes.yaml").write_text(
        f"task: kmb_dupes\ndataset_path: json\ndataset_kwargs:\n  data_files: {{test: {tmp_path / 'qa.jsonl'}}}\n"
        "test_split: test\noutput_type: generate_until\ndoc_to_text: '{{question}}'\ndoc_to_target: '{{answer}}'\n"
        "generation_kwargs: {until: ['\\n'], max_gen_toks: 2}\n"
        "metric_list: [{metric: exact_match, aggregation: mean, higher_is_better: true}]\n"
    )
    memory = GoldContextMemory({})
    memory.write(Corpus("c", tuple(Document(k, v) for k, v in DOCS.items())), tiny_model)
    lm = MemoryLM(memory, Reader(tiny_model, batch_size=4))
    results = lm_eval.simple_evaluate(
        model=lm, tasks=["kmb_dupes"], task_manager=task_manager([tmp_path]), log_samples=True, bootstrap_iters=0
    )
    samples = sample_rows("kmb_dupes", results["samples"]["kmb_dupes"], lm.log)
    assert [s["prompt"] for s in samples] == [QUESTION, QUESTION]  # the same text twice
    by_gold = {s["doc"]["doc_id"]: s for s in samples}
    for gold, text in DOCS.items():
        assert by_gold[gold]["routing"] == {"chosen": [gold], "gold": gold}
        own = len(tiny_model.tokenizer(text, add_special_tokens=False).input_ids)
        assert by_gold[gold]["context_tokens"] == own
    assert by_gold["short"]["context_tokens"] < by_gold["long"]["context_tokens"]
