"""MemoryLM: an lm-eval model that answers through a Memory, so lm-eval owns prompts and metrics."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from lm_eval.api.model import LM

from bench.answer.reader import Answer, EncodedPrefix, Reader, Scored
from bench.core.memory import Memory, Query, Recall, Routing

# Room kept for the chat template and separators around the context.
TEMPLATE_MARGIN = 16


RequestKey = tuple[str, int]  # (task name, lm-eval's doc_id): one question of one task


def request_key(request: Any) -> RequestKey:
    """Which question an lm-eval request asks: its task and document index, never its text
    (two questions may share a text and differ in their gold document)."""
    return (str(request.task_name), int(request.doc_id))


@dataclass(frozen=True)
class Asked:
    """What answering one question cost, and where a routing memory sent it."""

    answer: Answer  # for multiple choice: all choices' seconds added up, text empty
    routing: Routing | None = None


@dataclass
class ReadLog:
    """Per-question statistics, keyed by the request's identity so the run can attach them to
    lm-eval's logged samples (which carry the same task and doc_id)."""

    asked: dict[RequestKey, Asked] = field(default_factory=dict)
    recall_seconds: float = 0.0
    budgets: list[int] = field(default_factory=list)
    prefixes: list[EncodedPrefix] = field(default_factory=list)  # shared prefixes the reader encoded once

    def seconds_per_question(self) -> float:
        """Answering plus recall, per question asked: a record's `read s/query` (a prefix encoded
        once is ICL's write, not counted here)."""
        return (sum(a.answer.seconds for a in self.asked.values()) + self.recall_seconds) / max(1, len(self.asked))


def gold_doc(doc: Any) -> str | None:
    """The corpus document a question is answered from: the task's `doc_id`, else its `id`
    (PhoneBook questions share their fact's id); a router only uses it as the oracle."""
    if not isinstance(doc, dict):
        return None
    gold = doc.get("doc_id", doc.get("id"))
    return None if gold is None else str(gold)


class MemoryLM(LM):
    """An lm-eval model that answers through a memory: lm-eval owns prompts and metrics, the
    memory says what to add to each question, and the reader generates and counts the cost."""

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

    def _recall(self, requests: list[Any], reserve_tokens: int) -> tuple[list[Recall], int]:
        """The memory's recall for each request (one per question), within the budget left after
        `reserve_tokens`."""
        prompts = [r.args[0] for r in requests]
        budget = self.budget_for(prompts, reserve_tokens)
        started = time.perf_counter()
        queries = [Query(r.args[0], gold_doc(r.doc)) for r in requests]
        recalls = self.memory.recall(queries, budget)
        self.log.recall_seconds += time.perf_counter() - started
        self.log.budgets.append(budget)
        return recalls, budget

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """Answer each request with the memory's recall; its cost and routing go to `log`."""
        by_kwargs: dict[str, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            by_kwargs[repr(sorted(request.args[1].items()))].append(i)
        results: list[str] = [""] * len(requests)
        for members in by_kwargs.values():
            group = [requests[i] for i in members]
            prompts = [r.args[0] for r in group]
            kwargs = group[0].args[1]
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.get("max_gen_toks", 64))
            recalls, budget = self._recall(group, max_new)
            answers = self.reader.generate(prompts, recalls, budget, until, max_new)
            self.log.prefixes = list(self.reader.prefixes)
            for i, request, recall, answer in zip(members, group, recalls, answers, strict=True):
                results[i] = answer.text
                self.log.asked[request_key(request)] = Asked(answer, recall.routing)
        return results

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """Score continuations; a question asked with several continuations is recalled once."""
        first_of: dict[RequestKey, Any] = {}
        for request in requests:
            first_of.setdefault(request_key(request), request)
        tok = self.reader.model.tokenizer
        longest = max(len(tok(r.args[1], add_special_tokens=False).input_ids) for r in requests)
        recalls, budget = self._recall(list(first_of.values()), longest)
        recall_of = dict(zip(first_of, recalls, strict=True))
        keys = [request_key(r) for r in requests]
        scored = self.reader.score(
            [r.args[0] for r in requests], [r.args[1] for r in requests], [recall_of[k] for k in keys], budget
        )
        self.log.prefixes = list(self.reader.prefixes)
        choices: dict[RequestKey, list[Scored]] = defaultdict(list)
        for key, result in zip(keys, scored, strict=True):
            choices[key].append(result)
        for key, mine in choices.items():  # one cost entry per question: its choices' seconds added up
            first = mine[0]
            answer = Answer("", first.prompt_tokens, first.context_tokens, sum(s.seconds for s in mine), first.dropped)
            self.log.asked[key] = Asked(answer, recall_of[key].routing)
        return [(s.logprob, s.greedy) for s in scored]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """Not supported: no KMBench task measures perplexity."""
        raise NotImplementedError("KMBench's MemoryLM has no rolling loglikelihood (perplexity tasks)")


def evaluate(model: MemoryLM, task: str, manager: Any, seed: int, **options: Any) -> dict[str, Any]:
    """lm-eval's `simple_evaluate` on one task, samples logged, with every seed it takes set to
    the run's: a run, the retention probe and a reproduction all read the same way."""
    from unittest import mock

    import lm_eval
    import lm_eval.evaluator

    # lm-eval runs `git describe` in the working directory for its results' `git_hash`, which
    # prints "fatal: not a git repository" outside a checkout; KMBench records its own commit
    # (`bench.core.git.git_state`), so lm-eval's is not asked for.
    with mock.patch.object(lm_eval.evaluator, "get_git_commit_hash", lambda: None):
        return lm_eval.simple_evaluate(
            model=model,
            tasks=[task],
            task_manager=manager,
            log_samples=True,
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
            **options,
        )
