"""MemoryLM: an lm-eval model that answers through a Memory, so lm-eval owns prompts and metrics."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from lm_eval.api.model import LM

from bench.memory import Memory, Query, Routing
from bench.reader import Answer, Reader, Scored

# Room kept for the chat template and separators around the context.
TEMPLATE_MARGIN = 16


@dataclass
class ReadLog:
    """What each answered prompt cost, joined to lm-eval's samples by prompt text."""

    by_prompt: dict[str, Answer] = field(default_factory=dict)
    routing: dict[str, Routing] = field(default_factory=dict)  # memories that route among modules
    recall_seconds: float = 0.0
    budgets: list[int] = field(default_factory=list)


def gold_doc(doc: Any) -> str | None:
    """The corpus document a question is answered from: the task's `doc_id`, else its `id`
    (PhoneBook questions share their fact's id); a router only uses it as the oracle."""
    if not isinstance(doc, dict):
        return None
    gold = doc.get("doc_id", doc.get("id"))
    return None if gold is None else str(gold)


class MemoryLM(LM):
    def __init__(self, memory: Memory, reader: Reader, context_budget: int | None = None) -> None:
        super().__init__()
        self.memory = memory
        self.reader = reader
        self.context_budget = context_budget
        self.log = ReadLog()

    def budget_for(self, prompts: list[str], max_new_tokens: int) -> int:
        """What the window leaves after the longest question and the answer, or less if asked."""
        tok = self.reader.model.tokenizer
        longest = max(len(tok(p, add_special_tokens=False).input_ids) for p in prompts)
        room = self.reader.model.context_window - longest - max_new_tokens - TEMPLATE_MARGIN
        return max(0, min(room, self.context_budget) if self.context_budget is not None else room)

    def _recall(self, prompts: list[str], docs: list[Any], reserve_tokens: int) -> tuple[list[Any], int]:
        """The memory's recalls for these prompts, within the budget left after `reserve_tokens`."""
        budget = self.budget_for(prompts, reserve_tokens)
        started = time.perf_counter()
        recalls = self.memory.recall([Query(p, gold_doc(d)) for p, d in zip(prompts, docs, strict=True)], budget)
        self.log.recall_seconds += time.perf_counter() - started
        self.log.budgets.append(budget)
        for prompt, recall in zip(prompts, recalls, strict=True):
            if recall.routing is not None:
                self.log.routing[prompt] = recall.routing
        return recalls, budget

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        by_kwargs: dict[str, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            by_kwargs[repr(sorted(request.args[1].items()))].append(i)
        results: list[str] = [""] * len(requests)
        for members in by_kwargs.values():
            prompts = [requests[i].args[0] for i in members]
            kwargs = requests[members[0]].args[1]
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.get("max_gen_toks", 64))
            recalls, budget = self._recall(prompts, [requests[i].doc for i in members], max_new)
            answers = self.reader.generate(prompts, recalls, budget, until, max_new)
            for i, prompt, answer in zip(members, prompts, answers, strict=True):
                results[i] = answer.text
                self.log.by_prompt[prompt] = answer
        return results

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """Score continuations; a prompt asked with several continuations is recalled once."""
        prompts = [r.args[0] for r in requests]
        continuations = [r.args[1] for r in requests]
        doc_of = {r.args[0]: r.doc for r in requests}
        unique = list(doc_of)
        tok = self.reader.model.tokenizer
        longest = max(len(tok(c, add_special_tokens=False).input_ids) for c in continuations)
        recalls, budget = self._recall(unique, [doc_of[p] for p in unique], longest)
        recall_of = dict(zip(unique, recalls, strict=True))
        scored = self.reader.score(prompts, continuations, [recall_of[p] for p in prompts], budget)
        choices: dict[str, list[Scored]] = defaultdict(list)
        for prompt, result in zip(prompts, scored, strict=True):
            choices[prompt].append(result)
        for prompt, mine in choices.items():  # one cost entry per question: its choices' seconds added up
            first = mine[0]
            seconds = sum(s.seconds for s in mine)
            self.log.by_prompt[prompt] = Answer("", first.prompt_tokens, first.context_tokens, seconds, first.dropped)
        return [(s.logprob, s.greedy) for s in scored]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("KMBench's MemoryLM has no rolling loglikelihood (perplexity tasks)")
