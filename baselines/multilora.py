"""Many small LoRAs: the corpus split into K modules, one adapter each, a router per query.

The study's Q8-Q11: K modules of rank r/K against one rank-r adapter (`total_rank` keeps the
trainable-parameter budget equal), oracle against embedding routing, and peft's merges of
the routed (or all) modules. Each module is trained exactly as the `lora` memory trains one
adapter, and cached by its part's content, so every router and merge reuses the same modules.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baselines.lora import LoRAConfig, adapter_footprint, trained_adapter
from bench.core.config import check, option
from bench.core.errors import UserError
from bench.core.memory import Corpus, Footprint, LoadedModel, Memory, Query, Recall, Routing, Traits
from bench.model.adapters import MERGES, load_adapter, merge_adapters
from bench.model.packing import count_tokens
from bench.parts.modules import SPLITS, split_corpus, split_windows, window_owners
from bench.parts.routing import ROUTERS, AllRouter, EmbeddingRouter, OracleRouter, Router


@dataclass(frozen=True)
class MultiLoRAConfig(LoRAConfig):
    """LoRA's training knobs plus how to split the corpus, route queries and combine routed modules."""

    modules: int = option(4, "how many parts, one adapter each (with split window the window size decides)")
    split: str = option("documents", "contiguous parts balanced by document count, or tokens, file, window")
    partition: str = option("", "with split file: a JSON file {doc_id: part number}")
    total_rank: int = option(0, "> 0: each module gets total_rank / modules (one lora of that rank's budget)")
    router: str = option("oracle", "who picks a question's modules: oracle (reads the gold document), embedding, all")
    top_k: int = option(1, "modules routed per question")
    merge: str = option("sum", "how routed modules combine: sum (all on at once) or a peft merge (linear, ties ...)")
    weights: tuple[float, ...] = option((), "one per combined module, best-routed first; empty: see weighting")
    weighting: str = option("unit", "without weights: unit, mean_linear, mean_linear_ties or study (see merge_weights)")
    density: float = option(0.5, "kept fraction for ties, dare and magnitude_prune")
    embedder: str = option("all-MiniLM-L6-v2", "embedding router: the sentence-transformers model")
    chunk_tokens: int = option(128, "embedding router: tokens of each indexed piece")
    window_tokens: int = option(2048, "with split window: tokens per module, cut inside the corpus's joined text")
    window_overlap: int = option(200, "with split window: tokens each window shares with the one before")
    loading: str = option(
        "preloaded",
        "preloaded (every module loaded once, at write) or per_query (each question's module read from disk "
        "before answering it and dropped after, as a server without an adapter store does; merge sum only)",
        keyed_when_set=True,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.modules > 0, "modules must be positive")
        check(self.split in SPLITS, f"split must be one of {', '.join(SPLITS)}")
        check((self.split == "file") == bool(self.partition), "split 'file' and a partition file go together")
        check(self.total_rank >= 0, "total_rank must be >= 0")
        sized_by_corpus = self.split in ("file", "window")  # the number of modules is known only at write
        check(0 <= self.window_overlap < self.window_tokens, "window_overlap must be in [0, window_tokens)")
        check(
            self.total_rank == 0 or sized_by_corpus or self.total_rank % self.modules == 0,
            "total_rank must divide evenly among the modules",
        )
        check(self.router in ROUTERS, f"router must be one of {', '.join(ROUTERS)}")
        check(self.top_k > 0, "top_k must be positive")
        check(self.router != "oracle" or self.top_k == 1, "the oracle router picks exactly one module (top_k 1)")
        check(sized_by_corpus or self.top_k <= self.modules, "top_k cannot exceed the number of modules")
        check(self.merge in MERGES, f"merge must be one of {', '.join(MERGES)}")
        check(0.0 < self.density <= 1.0, "density must be in (0, 1]")
        check(self.chunk_tokens > 0, "chunk_tokens must be positive")
        check(self.weighting in WEIGHTINGS, f"weighting must be one of {', '.join(WEIGHTINGS)}")
        check(self.loading in LOADINGS, f"loading must be one of {', '.join(LOADINGS)}")
        check(
            self.loading == "preloaded" or self.merge == "sum",
            "loading per_query reads modules from disk as it answers, so it cannot merge them: use merge sum",
        )
        check(self.update != "continue", "multilora updates by retraining its touched modules (retrain) or keeps them")
        check(not (self.weights and self.weighting != "unit"), "give either weights or a weighting, not both")
        # read by their hint already; held as floats (1 -> 1.0), as every record has them, so a
        # config written `weights: [1, 1]` keeps its run id and label
        object.__setattr__(self, "weights", tuple(map(float, self.weights)))

    def module_config(self, n_modules: int) -> LoRAConfig:
        """The plain LoRA config each module trains with."""
        lora = {f.name: getattr(self, f.name) for f in dataclasses.fields(LoRAConfig)}
        if self.total_rank:
            if self.total_rank % n_modules:
                raise UserError(f"total_rank {self.total_rank} does not divide among {n_modules} modules")
            lora["rank"] = self.total_rank // n_modules
        return LoRAConfig(**lora)


WEIGHTINGS = ("unit", "mean_linear", "mean_linear_ties", "study")
LOADINGS = ("preloaded", "per_query")


def merge_weights(weighting: str, merge: str, n: int) -> tuple[float, ...]:
    """The weight of each of `n` combined modules.

    - "unit": 1.0 each.
    - "mean_linear": a linear merge averages (1/N), the others keep 1.0, as the study's PaperQA
      merging does (2_PAPERQA/scripts/04d_evaluate_multilora_merging.py: linear 1/N, CAT and TIES 1.0).
    - "mean_linear_ties": linear and TIES average, CAT keeps 1.0, as its long-document merging does
      (3_NQA/scripts/10_evaluate_multilora.py).
    - "study": KMBench's first reading of the study, kept so records made with it reproduce: linear
      1/N, CAT 1/sqrt(N), the others 1.0 (that CAT is now the merge `cat_rsqrt` at weight 1.0).
    """
    averaged = {"mean_linear": ("linear",), "mean_linear_ties": ("linear", "ties"), "study": ("linear",)}
    if any(merge.startswith(kind) for kind in averaged.get(weighting, ())):
        return (1.0 / n,) * n
    if weighting == "study" and merge == "cat":
        return (1.0 / math.sqrt(n),) * n
    return (1.0,) * n


def module_name(i: int) -> str:
    """The peft adapter name of module `i`, shared by loading, routing and records."""
    return f"m{i}"


class MultiLoRAMemory(Memory):
    """The modular memory: K adapters over parts of the corpus, a router choosing among them per query."""

    name = "multilora"
    traits = Traits(
        family="modular", installs_adapters=True, trains_parameters=True, routes=True, order=4, color="#9467bd"
    )
    config_class = MultiLoRAConfig

    def _split(self, corpus: Corpus, count: Callable[[str], int], tokenizer: Any = None) -> list[Corpus]:
        cfg = self.config
        if cfg.split == "window":
            return list(split_windows(corpus, cfg.window_tokens, cfg.window_overlap, tokenizer))
        return split_corpus(corpus, cfg.modules, cfg.split, count, Path(cfg.partition) if cfg.partition else None)

    def module_of(self, corpus: Corpus, count_tokens: Callable[[str], int]) -> dict[str, str]:
        """Each document's module, split exactly as `write` splits (windows: from token counts alone)."""
        cfg = self.config
        if cfg.split == "window":
            owners = window_owners(corpus, cfg.window_tokens, cfg.window_overlap, count_tokens)
            return {doc_id: module_name(i) for doc_id, i in owners.items()}
        parts = self._split(corpus, count_tokens)
        return {d.id: module_name(i) for i, part in enumerate(parts) for d in part.documents}

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        """Split the corpus, train (or load) one adapter per part, and build the router over the parts."""
        cfg = self.config
        parts = self._split(corpus, lambda t: count_tokens(model.tokenizer, t), model.tokenizer)
        if cfg.top_k > len(parts):  # a file or window split's count is known only now: refuse before training
            raise UserError(f"top_k {cfg.top_k} exceeds the {len(parts)} modules of the partition")
        lora = cfg.module_config(len(parts))
        self._trained = [trained_adapter(part, model, lora) for part in parts]
        if cfg.loading == "preloaded":
            for i, (folder, _, _) in enumerate(self._trained):
                load_adapter(model, module_name(i), folder)
        self._router = self._make_router(parts, model)
        self._model = model
        started = time.perf_counter()
        if cfg.router == "all":  # one merge for every query: build it now, as part of writing
            self._combine(tuple(module_name(i) for i in range(len(parts))))
        self._merge_seconds = time.perf_counter() - started

    def update(self, old: Corpus, new: Corpus, model: LoadedModel) -> Footprint:
        """Split the new book as a write would: a module whose documents did not change is the
        cached adapter it was, so only the touched modules train (or, with `update: keep`, none)."""
        if self.config.update == "keep":
            self.write(old, model)
            return Footprint(write_seconds=0.0)
        before = set(self.folders)
        self.write(new, model)
        return self._cost_of([module for module in self._trained if module[0] not in before])

    def _make_router(self, parts: Sequence[Corpus], model: LoadedModel) -> Router:
        cfg = self.config
        if cfg.router == "embedding":
            return EmbeddingRouter(parts, model.tokenizer, cfg.embedder, cfg.chunk_tokens, str(model.device))
        return OracleRouter(parts) if cfg.router == "oracle" else AllRouter(parts)

    def _combine(self, names: tuple[str, ...]) -> tuple[str, ...]:
        weights = self.config.weights or merge_weights(self.config.weighting, self.config.merge, len(names))
        if len(weights) != len(names):
            raise UserError(f"{len(weights)} merge weights for {len(names)} combined modules")
        return merge_adapters(self._model, names, self.config.merge, weights, self.config.density)

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        """The routed (and combined) modules per query, with the oracle's choice for router precision."""
        recalls = []
        for query, route in zip(queries, self._router.route(queries, self.config.top_k), strict=True):
            names = tuple(module_name(i) for i in route)
            gold = self._router.gold(query)
            routing = Routing(names, module_name(gold) if gold is not None else None)
            if self.config.loading == "per_query":
                on_disk = tuple((module_name(i), self.folders[i]) for i in route)
                recalls.append(Recall(adapters=names, routing=routing, on_disk=on_disk))
            else:
                recalls.append(Recall(adapters=self._combine(names) if names else (), routing=routing))
        return recalls

    def installed(self) -> Mapping[str, Path]:
        if self.config.loading == "per_query":
            return {}
        return {module_name(i): folder for i, folder in enumerate(self.folders)}

    @property
    def folders(self) -> list[Path]:
        """Each module's saved adapter, in module order."""
        return [folder for folder, _, _ in self._trained]

    def footprint(self) -> Footprint:
        """All modules' training cost plus merge time and the router's index, so K modules compare to one."""
        return self._cost_of(self._trained)

    def _cost_of(self, modules: Sequence[tuple[Path, dict, bool]]) -> Footprint:
        """These modules' (folder, training log, cached) training cost, plus merge time and the router's index."""
        cached = all(was_cached for _, _, was_cached in modules)
        fp = adapter_footprint([log for _, log, _ in modules], [f for f, _, _ in modules], self._model.n_params, cached)
        vectors = getattr(self._router, "vectors", 0)
        return dataclasses.replace(
            fp, write_seconds=(fp.write_seconds or 0.0) + self._merge_seconds, index_vectors=vectors
        )
