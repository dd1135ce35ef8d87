"""In-context learning: the corpus itself, in order, packed into the prompt up to the budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from baselines.profiles import DEFAULT_PROFILE, check_profile
from bench.core.config import option
from bench.core.memory import Corpus, Footprint, LoadedModel, Memory, Query, Recall, Traits
from bench.model.packing import count_tokens, instruction_cost, joiner_cost, pack, with_instruction


@dataclass(frozen=True)
class ICLConfig:
    """The context budget alone decides how much of the corpus fits; an instruction may lead it."""

    profile: str = option(DEFAULT_PROFILE, "the named protocol the other fields start from (baselines/profiles.py)")
    instruction: str = option("", "put before the facts (the study's ICL prompt has one); it counts in the budget")
    joiner: str = option("\n", "between documents (the study joins its lines with nothing)")

    def __post_init__(self) -> None:
        check_profile(self.profile)


class ICLMemory(Memory):
    """The long-context baseline: every question sees the same corpus prefix that fits the budget."""

    name = "icl"
    traits = Traits(family="context", order=1, color="#1f77b4")
    config_class = ICLConfig

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        """Keep the documents and their token counts, so recall only has to pack."""
        self._texts = [d.contents for d in corpus.documents]
        self._tokens = [count_tokens(model.tokenizer, t) for t in self._texts]
        self._bytes = sum(len(t.encode()) for t in self._texts)
        instruction = self.config.instruction
        self._instruction_tokens = instruction_cost(model.tokenizer, instruction)
        self._joiner = joiner_cost(model.tokenizer, self.config.joiner)

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        """The same packed prefix for every query; what does not fit is counted as dropped. The
        instruction (and its separator) comes out of the budget first, and only leads facts."""
        instruction = self.config.instruction
        packed = pack(self._texts, self._tokens, max(0, budget_tokens - self._instruction_tokens), *self._joiner)
        same = Recall(context=with_instruction(instruction, packed.text), dropped=packed.dropped)
        return [same for _ in queries]

    def footprint(self) -> Footprint:
        """Only the text is stored; writing costs the tokenization, no compute."""
        return Footprint(storage_bytes=self._bytes, write_tokens=sum(self._tokens))
