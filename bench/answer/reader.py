"""Answering: the one place that turns (question, recall) into generated text, for every memory.

Queries that share an adapter set are answered together, in length-sorted batches, so a
memory with many adapters pays for switching once per set and not once per query. When a
group's prompts share a long prefix (ICL puts the same corpus before every question), that
prefix is encoded once and its key/value cache reused, and its cost is shared by the group.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation import utils as generation_utils

from bench.answer.prefix import SharedPrefixCache, shared_prefix_attention, supports_shared_prefix
from bench.core.memory import LoadedModel, Recall
from bench.model.adapters import adapters_active
from bench.model.loading import render_question

CONTEXT_SEPARATOR = "\n\n"
MIN_SHARED_PREFIX = 64  # tokens; below this, encoding the prefix once saves little
PREFIX_COPIES_BYTES = 2 * 2**30  # a batch repeats the prefix cache per row; keep those copies under 2 GiB
# transformers renamed generate's `past_key_values` to `cache`; use whichever this version takes.
CACHE_KWARG = "cache" if "cache" in getattr(generation_utils, "ALL_CACHE_NAMES", ()) else "past_key_values"


@dataclass(frozen=True)
class Answer:
    """A generated answer with the token and time counts the cost columns need."""

    text: str
    prompt_tokens: int  # everything the model read: context, question and template
    context_tokens: int  # the part a memory added
    seconds: float  # this query's share of its group's wall time
    dropped: int  # knowledge pieces the budget left out


@dataclass(frozen=True)
class EncodedPrefix:
    """A prefix a group's prompts share, encoded once into a key/value cache: a write the reader does
    for a context memory (ICL's corpus), as RAG builds its index, and no question's own cost."""

    tokens: int
    seconds: float
    cache_bytes: int


@dataclass(frozen=True)
class Scored:
    """A scored continuation (for multiple-choice tasks) with the same cost counts as `Answer`."""

    logprob: float  # sum over the continuation's tokens
    greedy: bool  # whether greedy decoding would have produced the continuation
    prompt_tokens: int
    context_tokens: int
    seconds: float
    dropped: int


def truncate_to_budget(model: LoadedModel, context: str, budget: int) -> tuple[str, int]:
    """Guard against a memory that overran its budget: cut the context, return it and its size."""
    ids = model.tokenizer(context, add_special_tokens=False).input_ids
    if len(ids) > budget:
        ids = ids[:budget]
        context = model.tokenizer.decode(ids)
    return context, len(ids)


def cache_bytes(cache: Any) -> int:
    """Bytes of a key/value cache (0 if its layout is unknown, which disables the cap)."""
    layers = getattr(cache, "layers", [])
    return sum(t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values))


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Tokens all rows start with, leaving each row at least one token of its own."""
    shortest = min(len(r) for r in rows)
    n = 0
    while n < shortest - 1 and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


class Reader:
    """The shared answerer, so every memory is read, batched, timed and counted the same way."""

    def __init__(self, model: LoadedModel, batch_size: int = 16) -> None:
        self.model = model
        self.batch_size = batch_size
        self.prefixes: list[EncodedPrefix] = []  # every shared prefix encoded, in order

    def prefix_seconds_since(self, count: int) -> float:
        """Seconds spent encoding the prefixes after the first `count`: taken out of a group's
        per-question share, which is then what answering costs once the prefix is cached."""
        return sum(p.seconds for p in self.prefixes[count:])

    def _prepare(
        self, prompts: Sequence[str], recalls: Sequence[Recall], budget: int
    ) -> tuple[list[str], list[list[int]], list[int], dict[tuple, list[int]]]:
        """Rendered texts, their token ids, context sizes, and query indices grouped by adapter set."""
        tok = self.model.tokenizer
        texts, ids, context_tokens = [], [], []
        for prompt, recall in zip(prompts, recalls, strict=True):
            context, n = truncate_to_budget(self.model, recall.context, budget) if recall.context else ("", 0)
            texts.append(render_question(self.model, context + CONTEXT_SEPARATOR + prompt if context else prompt))
            ids.append(tok(texts[-1], add_special_tokens=False).input_ids)
            context_tokens.append(n)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, recall in enumerate(recalls):  # adapters read from disk per query are read for each one alone
            groups[(recall.adapters, i) if recall.on_disk else recall.adapters].append(i)
        return texts, ids, context_tokens, groups

    def generate(
        self,
        prompts: Sequence[str],
        recalls: Sequence[Recall],
        budget: int,
        until: Sequence[str],
        max_new_tokens: int,
    ) -> list[Answer]:
        """Greedy answers after each memory's context, with its adapters on, cut at the first stop string."""
        _, ids, context_tokens, groups = self._prepare(prompts, recalls, budget)
        answers: list[Answer | None] = [None] * len(prompts)
        with tqdm(total=len(prompts), desc="answer", unit="q") as bar:
            for members in groups.values():
                started, encoded = time.perf_counter(), len(self.prefixes)  # switching adapters counts too
                with adapters_active(self.model, recalls[members[0]]) as net:
                    texts = self._answer_group(net, [ids[i] for i in members], until, max_new_tokens, bar)
                spent = time.perf_counter() - started - self.prefix_seconds_since(encoded)
                share = spent / len(members)
                for i, text in zip(members, texts, strict=True):
                    answers[i] = Answer(text, len(ids[i]), context_tokens[i], share, recalls[i].dropped)
        return answers  # type: ignore[return-value]

    def score(
        self, prompts: Sequence[str], continuations: Sequence[str], recalls: Sequence[Recall], budget: int
    ) -> list[Scored]:
        """Log-probability of each continuation after its prompt (and its memory's context)."""
        tok = self.model.tokenizer
        texts, ids, context_tokens, groups = self._prepare(prompts, recalls, budget)
        pairs = []
        for text, prompt_ids, continuation in zip(texts, ids, continuations, strict=True):
            whole = tok(text + continuation, add_special_tokens=False).input_ids
            pairs.append((prompt_ids or [tok.eos_token_id], whole[len(prompt_ids) :]))
        scored: list[Scored | None] = [None] * len(prompts)
        with tqdm(total=len(prompts), desc="score", unit="q") as bar:
            for members in groups.values():
                began, encoded = time.perf_counter(), len(self.prefixes)
                with adapters_active(self.model, recalls[members[0]]) as net:
                    results = self._score_group(net, [pairs[i] for i in members], bar)
                share = (time.perf_counter() - began - self.prefix_seconds_since(encoded)) / len(members)
                for i, (logprob, greedy) in zip(members, results, strict=True):
                    n = len(pairs[i][0]) + len(pairs[i][1])
                    scored[i] = Scored(logprob, greedy, n, context_tokens[i], share, recalls[i].dropped)
        return scored  # type: ignore[return-value]

    def _score_group(self, net: Any, pairs: list[tuple[list[int], list[int]]], bar: tqdm) -> list[tuple[float, bool]]:
        """Batches of pairs; a long prefix all contexts share (ICL's corpus) is encoded once."""
        prefix = shared_prefix_length([context for context, _ in pairs]) if len(pairs) > 1 else 0
        cache = self._encode_prefix(net, pairs[0][0][:prefix]) if prefix >= MIN_SHARED_PREFIX else None
        shared = supports_shared_prefix(net)
        batch_size = self.batch_size
        if cache is not None and cache_bytes(cache) and not shared:
            batch_size = max(1, min(batch_size, PREFIX_COPIES_BYTES // cache_bytes(cache)))
        results: list[tuple[float, bool]] = []
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            past = None
            if cache is not None and shared:
                past = SharedPrefixCache(cache)
            elif cache is not None:
                past = copy.deepcopy(cache)
                past.batch_repeat_interleave(len(batch))
            with shared_prefix_attention(net) if past is not None and shared else nullcontext():
                results += self._score_batch(net, batch, prefix if cache is not None else 0, past)
            bar.update(len(batch))
        return results

    @torch.inference_mode()
    def _score_batch(
        self, net: Any, pairs: list[tuple[list[int], list[int]]], prefix: int = 0, past: Any = None
    ) -> list[tuple[float, bool]]:
        """Right-padded rows (positions stay aligned); with `past`, only what follows the `prefix`
        tokens its cache holds is fed, and every row attends to the whole prefix."""
        rows = [context[prefix:] + continuation for context, continuation in pairs]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.model.tokenizer.pad_token_id)
        mask = torch.zeros((len(rows), prefix + width), dtype=torch.long)
        for b, row in enumerate(rows):
            ids[b, : len(row)] = torch.tensor(row)
            mask[b, : prefix + len(row)] = 1
        device = self.model.device
        extra = {CACHE_KWARG: past} if past is not None else {}
        logits = net(input_ids=ids.to(device), attention_mask=mask.to(device), **extra).logits
        logprobs = logits.float().log_softmax(dim=-1).cpu()
        results = []
        for b, (context, continuation) in enumerate(pairs):
            first = len(context) - prefix - 1  # the position whose next-token guess is the continuation's start
            picked_rows = logprobs[b, first : first + len(continuation)]
            target = torch.tensor(continuation)
            picked = picked_rows.gather(1, target.unsqueeze(1)).sum().item()
            results.append((picked, bool((picked_rows.argmax(dim=-1) == target).all())))
        return results

    def _answer_group(
        self, net: Any, rows: list[list[int]], until: Sequence[str], max_new: int, bar: tqdm
    ) -> list[str]:
        """Batches of similar length; with a long shared prefix, its cache encoded once: read by every
        row of every batch where the model allows (`bench.answer.prefix`), else copied per row into
        batches of equal length."""
        prefix = shared_prefix_length(rows) if len(rows) > 1 else 0
        cache = self._encode_prefix(net, rows[0][:prefix]) if prefix >= MIN_SHARED_PREFIX else None
        if cache is not None and supports_shared_prefix(net):
            order = sorted(range(len(rows)), key=lambda i: len(rows[i]), reverse=True)
            texts = [""] * len(rows)
            with shared_prefix_attention(net):
                for start in range(0, len(order), self.batch_size):
                    batch = order[start : start + self.batch_size]
                    past = SharedPrefixCache(cache)
                    outputs = self._generate_batch(net, [rows[i] for i in batch], until, max_new, past, prefix)
                    for i, text in zip(batch, outputs, strict=True):
                        texts[i] = text
                    bar.update(len(batch))
            return texts
        batch_size = self.batch_size
        if cache is not None and cache_bytes(cache):
            batch_size = max(1, min(batch_size, PREFIX_COPIES_BYTES // cache_bytes(cache)))
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]), reverse=True)
        batches: list[list[int]] = []
        for i in order:
            last = batches[-1] if batches else None
            fits = last is not None and len(last) < batch_size
            if fits and (cache is None or len(rows[last[0]]) == len(rows[i])):
                last.append(i)
            else:
                batches.append([i])
        texts: list[str] = [""] * len(rows)
        for batch in batches:
            past = None
            if cache is not None:
                past = copy.deepcopy(cache)
                past.batch_repeat_interleave(len(batch))
            outputs = self._generate_batch(net, [rows[i] for i in batch], until, max_new, past)
            for i, text in zip(batch, outputs, strict=True):
                texts[i] = text
            bar.update(len(batch))
        return texts

    @torch.inference_mode()
    def _encode_prefix(self, net: Any, prefix: list[int]) -> Any:
        started = time.perf_counter()
        cache = net(input_ids=torch.tensor([prefix], device=self.model.device), use_cache=True).past_key_values
        self.prefixes.append(EncodedPrefix(len(prefix), time.perf_counter() - started, cache_bytes(cache)))
        return cache

    @torch.inference_mode()
    def _generate_batch(
        self, net: Any, rows: list[list[int]], until: Sequence[str], max_new: int, past: Any, prefix: int = 0
    ) -> list[str]:
        """Greedy answers; rows are padded on the left, or, after a shared `prefix` the cache holds,
        between that prefix and their own tokens (positions follow the mask, so they are unchanged)."""
        tok = self.model.tokenizer
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), tok.pad_token_id)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, row in enumerate(rows):  # left padding, as decoder-only generation needs
            ids[b, width - len(row) + prefix :] = torch.tensor(row[prefix:])
            mask[b, width - len(row) + prefix :] = 1
            ids[b, :prefix], mask[b, :prefix] = torch.tensor(row[:prefix]), 1
        out = net.generate(
            input_ids=ids.to(self.model.device),
            attention_mask=mask.to(self.model.device),
            **({CACHE_KWARG: past} if past is not None else {}),
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            stopping_criteria=StoppingCriteriaList([StopAfterAnswer(tok, width, until)]) if until else None,
        )
        return [cut_at_stop(t, until) for t in tok.batch_decode(out[:, width:], skip_special_tokens=True)]


def cut_at_stop(text: str, until: Sequence[str]) -> str:
    """The answer: leading blank space dropped, then cut before the first stop string."""
    text = text.lstrip()
    cuts = [text.index(s) for s in until if s and s in text]
    return text[: min(cuts)] if cuts else text


class StopAfterAnswer(StoppingCriteria):
    """Stop a row once its answer, after any leading blank lines, reaches a stop string.

    Small models often open with a newline; stopping there (as a plain `until=["\\n"]` does)
    would score an empty answer for reasons that have nothing to do with memory.
    """

    def __init__(self, tokenizer: Any, prompt_width: int, until: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        self.until = [s for s in until if s]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_width :], skip_special_tokens=True)
        done = [any(s in t.lstrip() for s in self.until) for t in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
