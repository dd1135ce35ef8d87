"""Parametric memory: the corpus trained into a LoRA adapter with a plain, readable loop.

The adapter is saved in peft's format (adapter_config.json + safetensors) under the cache,
keyed by model, corpus, config and seed, so a rerun loads it instead of training, and the
stock `lm_eval --model hf --model_args pretrained=...,peft=<folder>` can score it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from baselines.profiles import DEFAULT_PROFILE, check_profile
from bench.core.config import check, config_dict, option, stable_hash
from bench.core.errors import UserError
from bench.core.memory import Corpus, Footprint, LoadedModel, Memory, Query, Recall, Traits
from bench.core.paths import cache_dir
from bench.core.staging import staged_folder
from bench.model.adapters import load_adapter
from bench.model.checkpoint import TrainState, load_checkpoint, save_checkpoint
from bench.model.cost import PeakMemory, release_freed_memory, training_bytes_per_token
from bench.model.distill import distill_loss
from bench.model.loading import render_prompt
from bench.model.packing import count_tokens, pack
from bench.parts.synth import internalize, parse_format

ADAPTER = "main"
SCHEDULES = ("cosine", "linear", "constant")
LAYOUTS = ("split", "user")
PRECISIONS = ("fp32", "bf16")
OBJECTIVES = ("ntp", "dcd")
UPDATES = ("retrain", "continue", "keep")
TRAIN_LOG = "kmbench_train.json"
# A stopped write resumes from its last checkpoint (bench.model.checkpoint): every this many steps,
# about a minute and a half of a study cell on 2 CPU cores.
CHECKPOINT_EVERY = 100
# After each optimizer step: (steps done, tokens trained so far, the peft model in training) -> stop now?
StepHook = Callable[[int, int, Any], bool]
# One forward's fp32 logits (rows x width x vocab x 4 bytes) above this are computed in row groups:
# a 262K-vocabulary model (Gemma 3) on three 1.6K-token pages needs 5 GB for them, and training
# holds several copies (softmax, gradient). Every committed SmolLM2 row stays under it (one group).
LOGITS_CAP_BYTES = 2 * 2**30
# Training holds at most this resident (the performance issue's cap for the default model): the
# weights, the optimizer, the runtime, and what one forward keeps for backward, which is derived
# from the model's shape (`bench.model.cost.training_bytes_per_token`, about 3.4 MB a token for
# SmolLM2-135M). A forward over the rest is cut into row groups, with gradient checkpointing
# first where that keeps the batch whole (the same gradient, a third more compute): one step on
# kmb_paperqa_longdoc's 15 introductions once went past 22 GB.
MEMORY_CAP_BYTES = 8 * 10**9
RUNTIME_BYTES = 12 * 10**8  # python, torch, the tokenizer and lm-eval beside the weights (a run's RSS)
# Deep context distillation keeps the frozen teacher's outputs (logits and hidden states at the
# learned tokens) of the first examples up to this many bytes, computed once; the rest are
# recomputed in every batch. PhoneBook 1K in the study's layout needs about 0.6 GB.
TEACHER_CACHE_BYTES = 2 * 10**9
# A batch whose right padding would make one forward compute more than this many times its own
# tokens is cut into length groups. Batches of one kind of text (lines, QA pairs, pages) stay
# under it, so every committed row trains exactly as before.
PADDING_LIMIT = 4.0


@dataclass(frozen=True)
class LoRAConfig:
    """Everything that changes the trained adapter, so it is all part of the cache key."""

    profile: str = option(DEFAULT_PROFILE, "the named protocol the other fields start from (baselines/profiles.py)")
    rank: int = option(32, "LoRA rank r of every adapted matrix")
    alpha: int = option(0, "LoRA alpha; 0: alpha_ratio x rank, so alpha follows the rank in a sweep")
    alpha_ratio: float = option(2.0, "alpha / rank when alpha is 0 (the study ties alpha to the rank: 1.0)")
    target_modules: tuple[str, ...] = option(("all-linear",), "peft target modules (names, or all-linear)")
    dropout: float = option(0.0, "LoRA dropout on the adapter's input")
    layers: tuple[int, ...] = option((), "transformer layers that get adapters (e.g. 0,1); empty: every layer")
    lr: float = option(1e-3, "AdamW's peak learning rate")
    epochs: int = option(20, "passes over the training documents (unless max_steps is set)")
    max_steps: int = option(0, "optimizer steps; > 0 overrides epochs")
    batch_size: int = option(16, "sequences per optimizer step")
    schedule: str = option("cosine", "learning-rate schedule after warmup: cosine, linear or constant")
    warmup_ratio: float = option(0.0, "fraction of the steps the learning rate warms up over")
    weight_decay: float = option(0.0, "AdamW's decoupled weight decay (torch's default, which the study keeps: 0.01)")
    grad_clip: float = option(1.0, "clip the gradient's global norm to this")
    loss_on: str = option("answer", "tokens the loss learns: answer (after answer_marker) or all")
    answer_marker: str = option("Answer:", "where a line's question ends and its answer starts")
    layout: str = option(
        "split",
        "how a line becomes a chat: split asks the text up to answer_marker and learns the rest as the "
        "reply; user puts the whole line in the user turn and learns every token (the study's ntp_trainer.py)",
    )
    precision: str = option("fp32", "fp32, or bf16: forward passes under bf16 autocast, weights and optimizer fp32")
    objective: str = option(
        "ntp",
        "ntp: next-token loss on the training text; dcd: deep context distillation (the study's "
        "dcd_trainer.py), matching the model that reads the document in its context",
    )
    dcd_temperature: float = option(2.0, "dcd: temperature of the softened logits the KL term compares")
    dcd_l1_weight: float = option(0.1, "dcd: weight of the hidden states' relative L1 distance")
    dcd_context_tokens: int = option(1024, "dcd: the teacher's context, the document's window of the corpus")
    format: str = option("raw", "what to train on: raw, qa40, summary8+qa40, raw+rewrite4+qa40 ... (parts/synth.py)")
    generator: str = option("", "who writes synthetic formats: empty for the model under test, template, or a model")
    seed: int = option(0, "seeds initialisation, data order and dropout (always the run's seed)")
    update: str = option(
        "retrain",
        "how an update task's new book is taken: retrain (a new adapter from scratch), continue (the old "
        "adapter trained further on the new and rewritten documents only) or keep (the old adapter: stale)",
        keyed_when_set=True,
    )

    def __post_init__(self) -> None:
        check(self.rank > 0, "rank must be positive")
        check_profile(self.profile)
        check(self.alpha >= 0, "alpha must be >= 0 (0 means alpha_ratio x rank)")
        check(self.alpha_ratio > 0, "alpha_ratio must be positive")
        check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        check(self.lr > 0, "lr must be positive")
        check(self.epochs > 0 or self.max_steps > 0, "epochs or max_steps must be positive")
        check(self.batch_size > 0, "batch_size must be positive")
        check(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}")
        check(0.0 <= self.warmup_ratio < 1.0, "warmup_ratio must be in [0, 1)")
        check(self.loss_on in ("answer", "all"), "loss_on must be 'answer' or 'all'")
        check(self.layout in LAYOUTS, f"layout must be one of {', '.join(LAYOUTS)}")
        check(self.layout == "split" or self.loss_on == "all", "layout 'user' learns every token: set loss_on=all")
        check(self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}")
        check(self.objective in OBJECTIVES, f"objective must be one of {', '.join(OBJECTIVES)}")
        check(self.dcd_temperature > 0, "dcd_temperature must be positive")
        check(self.dcd_l1_weight >= 0, "dcd_l1_weight must be >= 0")
        check(self.dcd_context_tokens > 0, "dcd_context_tokens must be positive")
        check(bool(self.target_modules), "target_modules must not be empty")
        check(all(layer >= 0 for layer in self.layers), "layers must be >= 0")
        check(self.update in UPDATES, f"update must be one of {', '.join(UPDATES)}")
        parse_format(self.format)


@dataclass(frozen=True)
class Example:
    """One training sequence, split so the loss can skip the prompt."""

    prompt_ids: list[int]
    target_ids: list[int]
    unlearned: int | None = None  # a token id never learned: the study masks its pad id (often the EOS)
    context_ids: list[int] = field(default_factory=list)  # objective dcd: what the teacher reads first

    @property
    def length(self) -> int:
        """Tokens in the sequence: the width it needs in a right-padded batch."""
        return len(self.prompt_ids) + len(self.target_ids)


def split_answer(text: str, marker: str) -> tuple[str, str]:
    """Prompt and answer around the last `marker`; no marker means the whole text is the answer."""
    cut = text.rfind(marker) if marker else -1
    if cut < 0:
        return "", text
    end = cut + len(marker)
    return text[:end], text[end:]


def make_examples(corpus: Corpus, model: LoadedModel, cfg: LoRAConfig, source: Corpus | None = None) -> list[Example]:
    """Tokenize documents with the same prompt rendering the reader uses, so training matches answering.
    For distillation, `source` is the corpus the training documents were written from (itself for raw)."""
    examples = ntp_examples(corpus, model, cfg)
    if cfg.objective != "dcd":
        return examples
    return with_contexts(examples, corpus, source or corpus, model, cfg.dcd_context_tokens)


def ntp_examples(corpus: Corpus, model: LoadedModel, cfg: LoRAConfig) -> list[Example]:
    """Each document as the sequence next-token training learns, laid out as `cfg.layout` says."""
    tok = model.tokenizer
    if cfg.layout == "user":
        return [user_turn_example(doc.contents, model) for doc in corpus.documents]
    examples = []
    for doc in corpus.documents:
        prompt, answer = split_answer(doc.contents, cfg.answer_marker)
        prompt = render_prompt(model, prompt) if prompt else ""
        if model.chat_template:
            answer = answer.lstrip()
        prompt_ids = tok(prompt, add_special_tokens=False).input_ids if prompt else []
        answer_ids = [*tok(answer, add_special_tokens=False).input_ids, tok.eos_token_id]
        if cfg.loss_on == "all":
            prompt_ids, answer_ids = [], prompt_ids + answer_ids
        examples.append(Example(prompt_ids, answer_ids))
    return examples


def user_turn_example(text: str, model: LoadedModel) -> Example:
    """The study's line (1_GRID_SEARCH/src/trainers/ntp_trainer.py, `_collate_fn`): in the chat
    template, the whole text as the user turn followed by the reply's opening; without it, the
    text then the EOS. Tokenized as that code does (special tokens on), every token learned
    except the pad id."""
    tok = model.tokenizer
    rendered = render_prompt(model, text) if model.chat_template else text
    ids = tok(rendered).input_ids + ([] if model.chat_template else [tok.eos_token_id])
    return Example([], ids, unlearned=tok.pad_token_id)


def with_contexts(
    examples: list[Example], training: Corpus, source: Corpus, model: LoadedModel, window: int
) -> list[Example]:
    """Give each example the teacher's context for deep context distillation: the source document it
    was written from (`<source id>/<kind><j>`, or itself), read inside its window of the source corpus
    (consecutive whole documents, one a line, up to `window` tokens; a longer document is cut at
    `window`). The study's teacher reads the chunk a sample was written from; a window keeps a long
    book inside the model's context."""
    tok = model.tokenizer
    texts = [d.contents for d in source.documents]
    lengths = [count_tokens(tok, t) for t in texts]
    window_of: dict[str, list[int]] = {}
    start = 0
    while start < len(texts):
        packed = pack(texts[start:], lengths[start:], window)
        end = start + max(1, packed.kept)  # a document longer than the window is its own, cut below
        ids = tok(packed.text or texts[start], add_special_tokens=False).input_ids[:window]
        ids += tok("\n\n", add_special_tokens=False).input_ids
        window_of.update({source.documents[i].id: ids for i in range(start, end)})
        start = end
    contexts = []
    for doc in training.documents:
        origin = doc.id if doc.id in window_of else doc.id.split("/")[0]
        if origin not in window_of:
            raise UserError(f"objective dcd: training document {doc.id!r} has no source document in {source.name}")
        contexts.append(window_of[origin])
    return [replace(e, context_ids=c) for e, c in zip(examples, contexts, strict=True)]


def collate(batch: Sequence[Example], pad_id: int, device: Any = "cpu") -> dict[str, torch.Tensor]:
    """Right-padded ids on `device`; labels are -100 on the prompt and padding so only answers are learned."""
    width = max(e.length for e in batch)
    ids = torch.full((len(batch), width), pad_id)
    labels = torch.full((len(batch), width), -100)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        seq = e.prompt_ids + e.target_ids
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(e.prompt_ids) : len(seq)] = torch.tensor(
            [-100 if t == e.unlearned else t for t in e.target_ids]
        )
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


@dataclass(frozen=True)
class MemoryBudget:
    """What one training forward may keep for backward, and what a token costs it without and
    with gradient checkpointing."""

    bytes: float
    per_token: float
    per_token_checkpointed: float

    @classmethod
    def for_model(cls, model: torch.nn.Module, trainable: int) -> MemoryBudget:
        """MEMORY_CAP_BYTES less the weights, the runtime and AdamW's state (weights, gradients and
        two moments of every trained parameter)."""
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        left = MEMORY_CAP_BYTES - RUNTIME_BYTES - weights - 16 * trainable
        return cls(left, training_bytes_per_token(model.config), training_bytes_per_token(model.config, True))


UNLIMITED = MemoryBudget(math.inf, 1.0, 1.0)


def row_groups(
    batch: Sequence[Example], vocab_size: int, budget: MemoryBudget = UNLIMITED
) -> tuple[list[list[Example]], bool]:
    """The batch as few forward passes as keep the gradient and spare the machine, and whether
    they run with gradient checkpointing: one group whenever it fits, so a model that fits trains
    exactly as before; checkpointed where that keeps it one group; cut by length where right
    padding would multiply the work (`length_groups`), and by rows where one forward's logits
    would pass LOGITS_CAP_BYTES or what it keeps the budget. `batch_loss` makes the groups'
    gradient the one-forward one."""
    groups = length_groups(batch) if padded_share(batch) > PADDING_LIMIT else [list(batch)]
    largest = max(max(e.length for e in g) * len(g) for g in groups)
    checkpointing = largest * budget.per_token > budget.bytes and budget.per_token_checkpointed < budget.per_token
    per_token = budget.per_token_checkpointed if checkpointing else budget.per_token
    cut = []
    for group in groups:
        width = max(e.length for e in group)
        kept = budget.bytes // (width * per_token) if math.isfinite(budget.bytes) else len(group)
        rows = int(max(1, min(LOGITS_CAP_BYTES // (width * vocab_size * 4), kept)))
        cut += [group[i : i + rows] for i in range(0, len(group), rows)]
    return cut, checkpointing


def set_checkpointing(peft_model: Any, on: bool) -> None:
    """Switch the base model's activation (gradient) checkpointing, non-reentrant so the frozen
    embeddings need no gradient; transformers 5 renamed the methods, older ones have the first names."""
    model = peft_model.get_base_model()
    renamed = hasattr(model, "activation_checkpointing_enable")
    if on == bool(model.is_activation_checkpointing if renamed else model.is_gradient_checkpointing):
        return
    if on and renamed:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    elif on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        (model.activation_checkpointing_disable if renamed else model.gradient_checkpointing_disable)()


def padded_share(batch: Sequence[Example]) -> float:
    """Tokens one right-padded forward computes, over the batch's own tokens."""
    lengths = [e.length for e in batch]
    return max(lengths) * len(lengths) / sum(lengths)


def length_groups(batch: Sequence[Example]) -> list[list[Example]]:
    """Rows sorted by length, a new group wherever a row is over twice its group's shortest: a
    format mixing whole pages with QA pairs (`raw+study_qa40`) would otherwise pad every pair
    in a page's batch to the page's length (16 rows of ~1,150 tokens for ~2,350 real ones)."""
    groups: list[list[Example]] = []
    for e in sorted(batch, key=lambda e: e.length):
        if groups and e.length <= 2 * groups[-1][0].length:
            groups[-1].append(e)
        else:
            groups.append([e])
    return groups


def forward_precision(device: Any, precision: str) -> torch.autocast:
    """The context a training forward runs in: bf16 autocast, or a no-op for fp32."""
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def batch_loss(
    peft_model: Any, groups: list[list[Example]], pad_id: int, device: Any, precision: str = "fp32"
) -> tuple[float, int]:
    """Backpropagate the batch's mean token loss, one group at a time; (the loss, tokens seen).

    Each group's summed loss is divided by the whole batch's count of learned tokens, so the
    gradient is the one-forward gradient, only without holding every group's logits at once.
    In bf16 only the forward runs under autocast; backward follows the forward's dtypes.
    """
    batches = [collate(g, pad_id, device) for g in groups]
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    bf16 = forward_precision(device, precision)
    if len(batches) == 1:
        with bf16:
            loss = peft_model(**batches[0]).loss
        loss.backward()
        return loss.item(), tokens
    learned = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches)  # the model shifts labels by one
    total = 0.0
    for b in batches:
        with bf16:
            loss = peft_model(**b, num_items_in_batch=learned).loss
        loss.backward()
        total += loss.item()
    return total, tokens


@dataclass(frozen=True)
class Taught:
    """The teacher's outputs at one example's learned tokens: the student's targets."""

    logits: torch.Tensor
    hidden: list[torch.Tensor]

    @property
    def bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in [self.logits, *self.hidden])


def teach(
    peft_model: Any, batch: Sequence[Example], pad_id: int, device: Any, cfg: LoRAConfig
) -> tuple[list[Taught], int]:
    """The teacher on a batch: its outputs at each example's learned tokens, and the tokens it read.

    The teacher is the model with the adapter off, reading each example's context first, in eval
    mode as the study's trainer keeps it (src/trainers/dcd_trainer.py: `teacher_model.eval()`),
    so it drops nothing out and its outputs never change."""
    teacher = collate([replace(e, prompt_ids=e.context_ids + e.prompt_ids) for e in batch], pad_id, device)
    training = peft_model.training
    peft_model.eval()
    try:
        with torch.no_grad(), peft_model.disable_adapter(), forward_precision(device, cfg.precision):
            out = peft_model(teacher["input_ids"], attention_mask=teacher["attention_mask"], output_hidden_states=True)
    finally:
        peft_model.train(training)
    at = teacher["labels"] != -100
    taught = [
        Taught(out.logits[row][at[row]], [h[row][at[row]] for h in out.hidden_states])  # indexing copies
        for row in range(len(batch))
    ]
    return taught, int(teacher["attention_mask"].sum())


def cache_teacher(
    peft_model: Any, examples: Sequence[Example], pad_id: int, device: Any, cfg: LoRAConfig, limit: float
) -> tuple[dict[int, Taught], int]:
    """The teacher's outputs for the first examples that fit in `limit` bytes, each read alone (no
    padding, so the same whatever batch it lands in), and the tokens it read. The study's trainer
    recomputes them every step; its frozen teacher in eval mode gives the same numbers each time,
    so computing them once cuts a step to about a next-token step's cost."""
    cached: dict[int, Taught] = {}
    used, read = 0, 0
    for i in tqdm(range(len(examples) if limit > 0 else 0), desc="dcd teacher", unit="example", leave=False):
        [taught], tokens = teach(peft_model, [examples[i]], pad_id, device, cfg)
        if used + taught.bytes > limit:
            break
        cached[i], used, read = taught, used + taught.bytes, read + tokens
    return cached, read


def distill_batch(
    peft_model: Any,
    batch: Sequence[Example],
    pad_id: int,
    device: Any,
    cfg: LoRAConfig,
    cached: Sequence[Taught | None] = (),
) -> tuple[float, int, int]:
    """Backpropagate deep context distillation on one batch; (the loss, student tokens, teacher tokens).

    The loss compares the student and the teacher on the example's learned tokens, which sit in the
    same order in both; `cached` holds the teacher's outputs already known (None: taught now)."""
    known = list(cached) or [None] * len(batch)
    missing = [i for i, t in enumerate(known) if t is None]
    taught, read = teach(peft_model, [batch[i] for i in missing], pad_id, device, cfg) if missing else ([], 0)
    for i, t in zip(missing, taught, strict=True):
        known[i] = t
    teacher = [t for t in known if t is not None]
    student = collate(batch, pad_id, device)
    with forward_precision(device, cfg.precision):
        learned = peft_model(student["input_ids"], attention_mask=student["attention_mask"], output_hidden_states=True)
    s_at = student["labels"] != -100
    loss, _, _ = distill_loss(
        torch.cat([t.logits for t in teacher]),
        learned.logits[s_at],
        [torch.cat(layer) for layer in zip(*(t.hidden for t in teacher), strict=True)],
        [h[s_at] for h in learned.hidden_states],
        cfg.dcd_temperature,
        cfg.dcd_l1_weight,
    )
    loss.backward()
    return loss.item(), int(student["attention_mask"].sum()), read


def lr_factor(step: int, total: int, cfg: LoRAConfig) -> float:
    """Learning-rate multiplier at `step`: linear warmup, then constant, or a cosine or linear
    decay to zero (linear is transformers' Trainer default, which the study's runs used)."""
    warmup = int(total * cfg.warmup_ratio)
    if step < warmup:
        return (step + 1) / warmup
    if cfg.schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if cfg.schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def lora_alpha(cfg: LoRAConfig) -> float:
    """The scale numerator peft gets: the config's alpha, else alpha_ratio x rank."""
    return cfg.alpha or cfg.alpha_ratio * cfg.rank


def peft_config(cfg: LoRAConfig, model: torch.nn.Module | None = None):  # -> peft.LoraConfig
    """Translate our config into peft's, so saved adapters load in stock peft and lm-eval. peft takes
    `layers_to_transform` only with named targets, so with layers chosen "all-linear" becomes the
    names of the model's linear layers (the output head aside, as peft's own all-linear leaves it)."""
    from peft import LoraConfig

    targets: str | list[str] = list(cfg.target_modules)
    if cfg.target_modules == ("all-linear",):
        targets = linear_names(model) if cfg.layers and model is not None else "all-linear"
    return LoraConfig(
        r=cfg.rank,
        lora_alpha=lora_alpha(cfg),
        lora_dropout=cfg.dropout,
        target_modules=targets,
        layers_to_transform=list(cfg.layers) or None,
        task_type="CAUSAL_LM",
    )


def linear_names(model: torch.nn.Module) -> list[str]:
    """The distinct short names of the model's linear layers, the output head left out."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m is not head}
    return sorted(names)


def epoch_orders(n: int, seed: int) -> Iterator[list[int]]:
    """Each epoch's shuffle, in turn, from one seeded generator: step k's batch depends only on
    the seed and k, so a resumed run replays the orders it already used."""
    order = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randperm(n, generator=order).tolist()


def train_adapter(
    model: LoadedModel,
    examples: list[Example],
    cfg: LoRAConfig,
    folder: Path,
    on_step: StepHook | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    init: Path | None = None,
    teacher_cache_bytes: float = TEACHER_CACHE_BYTES,
) -> dict:
    """Train one adapter and save it into `folder` (`trained_adapter` stages it); returns the training log.

    `on_step(steps done, tokens so far, the model in training)` is called after every optimizer
    step (`make perf` scores checkpoints with it); returning True ends training there, and the
    log's `steps` says where. Its time is inside the log's `seconds`: the caller takes it out.
    With `checkpoint`, the state is saved there every `checkpoint_every` steps and a saved one is
    resumed from, with the same result as an uninterrupted run; the log's `resumed_at` says where.
    With `init` (a saved adapter of the same config), training starts from its weights. Deep context
    distillation keeps up to `teacher_cache_bytes` of its teacher's outputs (`cache_teacher`).
    """
    from peft import get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    torch.manual_seed(cfg.seed)
    peft_model = get_peft_model(model.model, peft_config(cfg, model.model))
    if init is not None:
        set_peft_model_state_dict(peft_model, load_file(init / "adapter_model.safetensors"))
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = cfg.max_steps or cfg.epochs * per_epoch
    vocab_size = model.model.get_output_embeddings().weight.shape[0]
    budget = MemoryBudget.for_model(model.model, sum(p.numel() for p in params))
    checkpointed = 0
    pad_id = model.tokenizer.pad_token_id
    state = (load_checkpoint(checkpoint, peft_model, optimizer) if checkpoint else None) or TrainState()
    resumed_at = state.step
    orders = epoch_orders(len(examples), cfg.seed)
    perm: list[int] = []
    for _ in range(state.step // per_epoch + 1):
        perm = next(orders)
    try:
        started = time.perf_counter() - state.seconds
        peft_model.train()
        taught: dict[int, Taught] = {}
        teaching = time.perf_counter()
        if cfg.objective == "dcd":
            taught, read = cache_teacher(peft_model, examples, pad_id, model.device, cfg, teacher_cache_bytes)
            state.teacher_tokens += read
        teaching = time.perf_counter() - teaching
        with tqdm(total=total, initial=state.step, desc="lora train", unit="step") as bar:
            while state.step < total:
                index = state.step % per_epoch
                if index == 0 and state.step > resumed_at:
                    perm = next(orders)
                picked = perm[index * cfg.batch_size : (index + 1) * cfg.batch_size]
                batch = [examples[i] for i in picked]
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr * lr_factor(state.step, total, cfg)
                if cfg.objective == "dcd":
                    known = [taught.get(i) for i in picked]
                    loss, tokens, read = distill_batch(peft_model, batch, pad_id, model.device, cfg, known)
                    state.teacher_tokens += read
                else:
                    groups, checkpointing = row_groups(batch, vocab_size, budget)
                    set_checkpointing(peft_model, checkpointing)
                    checkpointed += checkpointing
                    loss, tokens = batch_loss(peft_model, groups, pad_id, model.device, cfg.precision)
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                release_freed_memory()
                state.tokens += tokens
                state.epoch_loss.append(loss)
                state.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}")
                if on_step is not None and on_step(state.step, state.tokens, peft_model):
                    total = state.step  # the caller has what it waited for: no step after this one
                if index == per_epoch - 1 or state.step >= total:
                    state.losses.append(round(sum(state.epoch_loss) / len(state.epoch_loss), 5))
                    state.epoch_loss = []
                if checkpoint is not None and state.step % checkpoint_every == 0 and state.step < total:
                    state.seconds = time.perf_counter() - started
                    save_checkpoint(checkpoint, state, peft_model, optimizer)
        log: dict = {"losses": state.losses, "tokens": state.tokens, "steps": total}
        log["seconds"] = time.perf_counter() - started
        log["trainable_params"] = sum(p.numel() for p in params)
        log["precision"] = cfg.precision
        if cfg.objective == "dcd":
            log["teacher_tokens"] = state.teacher_tokens
            log["teacher_cached"] = len(taught)  # examples whose teacher outputs were computed once
            log["teacher_seconds"] = teaching  # computing them, inside `seconds`
        if resumed_at:
            log["resumed_at"] = resumed_at
        if checkpointed:  # steps (since any resume) that kept to the memory cap by recomputing activations
            log["checkpointed_steps"] = checkpointed
        peft_model.eval()
        peft_model.save_pretrained(folder)
    finally:
        set_checkpointing(peft_model, False)
        peft_model.unload()  # leave the base model as it was, even on an error; reading loads the saved files
    return log


def adapter_folder(corpus: Corpus, model: LoadedModel, cfg: LoRAConfig, init: Path | None = None) -> Path:
    """Named by content, not task: tasks over the same corpus (CounterFact's two) share one adapter.
    How an update is taken is not part of it (the first version's adapter is the same for all);
    an adapter trained on from another one (`init`) is keyed by that one too."""
    key = stable_hash(
        {
            "model": model.source,
            "chat": model.chat_template,
            "corpus": corpus.sha256,
            "config": config_dict(replace(cfg, update=UPDATES[0])),
            **({"init": init.name} if init is not None else {}),
        }
    )
    return cache_dir() / "adapters" / f"lora-r{cfg.rank}-{key}"


def trained_adapter(
    corpus: Corpus, model: LoadedModel, cfg: LoRAConfig, init: Path | None = None
) -> tuple[Path, dict, bool]:
    """The adapter for this corpus and config, trained from scratch or on from `init`: (folder,
    training log, whether it came from the cache)."""
    folder = adapter_folder(corpus, model, cfg, init)
    if (folder / TRAIN_LOG).is_file():
        return folder, json.loads((folder / TRAIN_LOG).read_text()), True
    checkpoint = folder.with_name(folder.name + ".checkpoint.pt")
    started = time.perf_counter()
    training = internalize(corpus, cfg.format, cfg.generator, model, cfg.seed)
    synth_seconds = time.perf_counter() - started
    # Built aside and renamed into place with its log (the marker), so a worker racing us for the
    # same adapter never sees half of ours; if it publishes first, ours is dropped and theirs used.
    with staged_folder(folder, complete=lambda f: (f / TRAIN_LOG).is_file()) as scratch:
        with PeakMemory() as peak:
            examples = make_examples(training, model, cfg, source=corpus)
            log = train_adapter(model, examples, cfg, scratch, checkpoint=checkpoint, init=init)
        log.update(peak_mb=peak.megabytes, synth_seconds=synth_seconds, training_documents=len(training.documents))
        (scratch / TRAIN_LOG).write_text(json.dumps(log, indent=1))
    checkpoint.unlink(missing_ok=True)
    return folder, log, False


def adapter_footprint(logs: Sequence[dict], folders: Sequence[Path], n_base: int, cached: bool) -> Footprint:
    """What training these adapters cost and what they take on disk, added up."""
    tokens = sum(log["tokens"] for log in logs)
    teacher = sum(log.get("teacher_tokens", 0) for log in logs)  # distillation's teacher: forward passes only
    peaks = [log["peak_mb"] for log in logs if log.get("peak_mb") is not None]
    return Footprint(
        trainable_params=sum(log["trainable_params"] for log in logs),
        storage_bytes=sum(f.stat().st_size for folder in folders for f in folder.glob("*.safetensors")),
        write_tokens=tokens,
        # forward (2N) + activation gradients (2N) per token; frozen weights get no weight gradients
        write_flops=4.0 * n_base * tokens + 2.0 * n_base * teacher,
        write_seconds=sum(log["seconds"] + log.get("synth_seconds", 0.0) for log in logs),
        write_peak_mb=max(peaks) if peaks else None,
        cached=cached,
    )


class LoRAMemory(Memory):
    """The parametric baseline: the whole corpus in one adapter, switched on for every question."""

    name = "lora"
    traits = Traits(family="parametric", installs_adapters=True, trains_parameters=True, order=3, color="#d62728")
    config_class = LoRAConfig

    def write(self, corpus: Corpus, model: LoadedModel) -> None:
        """Train (or load from the cache) the adapter and install it on the shared model."""
        self.folder, self._log, self._cached = trained_adapter(corpus, model, self.config)
        load_adapter(model, ADAPTER, self.folder)
        self._n_base = model.n_params

    def update(self, old: Corpus, new: Corpus, model: LoadedModel) -> Footprint:
        """As `config.update` says: retrain on the new book, continue training the old adapter on
        what changed (a removed document cannot be trained out), or keep the old adapter."""
        if self.config.update == "retrain":
            return super().update(old, new, model)
        changes = new.changed_since(old) if self.config.update == "continue" else None
        if changes is not None and changes.documents:
            self.folder, self._log, self._cached = trained_adapter(changes, model, self.config, init=self.folder)
            load_adapter(model, ADAPTER, self.folder)
            return self.footprint()
        load_adapter(model, ADAPTER, self.folder)  # nothing to learn: the old adapter, installed again
        return Footprint(write_seconds=0.0)

    def recall(self, queries: Sequence[Query], budget_tokens: int) -> list[Recall]:
        """The same adapter for every query and no context: the knowledge is in the weights."""
        return [Recall(adapters=(ADAPTER,)) for _ in queries]

    def installed(self) -> Mapping[str, Path]:
        return {ADAPTER: self.folder}

    def training_log(self) -> Mapping[str, Any] | None:
        return self._log

    def footprint(self) -> Footprint:
        """Training cost from the adapter's log, so a cached adapter reports what it cost to build."""
        return adapter_footprint([self._log], [self.folder], self._n_base, self._cached)


@dataclass(frozen=True)
class DCDConfig(LoRAConfig):
    """The `lora` config trained by deep context distillation: `dcd` is `lora` with objective dcd."""

    objective: str = option("dcd", "dcd: deep context distillation (the lora field, set)")


class DCDMemory(LoRAMemory):
    """Parametric memory written by distillation: the adapter learns to answer as the model does
    with the document in its context (the study's DCD baseline; Knowledge Modules' objective)."""

    name = "dcd"
    traits = Traits(family="parametric", installs_adapters=True, trains_parameters=True, order=3, color="#9467bd")
    config_class = DCDConfig
