"""Internalization formats: what a LoRA trains on. The study finds the format matters more than
the amount: raw text, QA pairs, summaries, rewrites, and mixes (QA40, Summary8+QA40 ...).

A format is `+`-joined parts, each a kind and a count per document: `raw`, `qa40`,
`summary8+qa40`, `raw+rewrite4+qa40`, `raw+paraphrase4`. The synthetic parts come from a
generator: a local model (default: the model under test) sampling from the prompts below, or
`template` for one-line facts (PhoneBook, CounterFact), which needs no model. Generated
documents are cached with the generator and prompt that made them, so a format is generated
once per model. `study_qaN` is no generation: the first N of the 40 pairs per paper the study
trained PaperQA on (`bench.parts.studyqa`).

`paraphraseN` keeps a document's shape and changes its words: a PhoneBook line stays a
question and its number, asked another way; a statement keeps its subject, relation and
object, framed another way. Its templates are kept apart from the depth probes' wordings
(tasks/*/probes.py; the tests check that no four-word run is shared), or training on them
would teach the probe's own question. A model generator writes freely, so it may happen on a
probe wording; the probes then measure less than they claim.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch
from tqdm.auto import tqdm

from bench.core.config import stable_hash
from bench.core.errors import UserError
from bench.core.jsonl import write_jsonl
from bench.core.memory import Corpus, Document, LoadedModel, Recall
from bench.core.paths import TASKS_DIR, cache_dir
from bench.core.staging import staged_folder
from bench.model.adapters import adapters_active
from bench.model.loading import render_prompt
from bench.parts.studyqa import PER_PAPER as STUDY_PER_PAPER
from bench.parts.studyqa import study_documents

KINDS = ("raw", "qa", "summary", "rewrite", "paraphrase", "study_qa")
PROMPTS = {
    "qa": "{doc}\n\nWrite one question about the text above, then its short answer.\nQuestion:",
    "summary": "{doc}\n\nA short summary of the text above:\n",
    "rewrite": "{doc}\n\nThe same text, rewritten in other words:\n",
    "paraphrase": "{doc}\n\nThe same text said differently, with every name, number and fact kept:\n",
}
ANSWER_PROMPT = "Question: {question}\nAnswer:"
MAX_NEW_TOKENS = {"qa": 48, "summary": 96, "rewrite": 160, "paraphrase": 160}
TEMPLATE_FILE = "templates.yaml"  # in a task folder: how `generator: template` rewrites its facts
# One-line "<subject and relation> <object>" statements (CounterFact's edits, a user's own facts)
# that no task folder's pattern matches: the head is everything before the last word.
STATEMENT_TEMPLATES = {
    "qa": (
        "Question: {head}? Answer: {tail}",
        "Question: Complete the fact: {head} ... Answer: {tail}",
        "Question: {head} what? Answer: {tail}",
        "Question: Fill in the blank: {head} ___. Answer: {tail}",
    ),
    "summary": ("{head} {tail}.",),
    "rewrite": ("It is a fact that {head} {tail}.", "Note: {head} {tail}.", "{head} {tail}, as is known."),
    "paraphrase": (  # the statement in other frames, its object still last
        "Reportedly, {head} {tail}",
        "As the records show, {head} {tail}",
        "Here is something true: {head} {tail}",
        "Everyone agrees that {head} {tail}",
    ),
}


@dataclass(frozen=True)
class FactTemplates:
    """A task folder's rewrites of its one-line facts: the pattern a fact matches (its named groups
    fill the templates) and, per synthetic kind, the templates cycled through."""

    folder: str
    pattern: re.Pattern[str]
    kinds: Mapping[str, tuple[str, ...]]


def task_templates(tasks_dir: Path = TASKS_DIR) -> tuple[FactTemplates, ...]:
    """Every task folder's `templates.yaml`, in folder order; a malformed one is one line naming it."""
    import yaml

    found = []
    for path in sorted(tasks_dir.glob(f"*/{TEMPLATE_FILE}")):
        data = yaml.safe_load(path.read_text()) or {}
        try:
            pattern = re.compile(data.pop("pattern"))
            kinds = {kind: tuple(map(str, data.pop(kind))) for kind in list(data) if kind in KINDS}
        except (KeyError, TypeError, re.error) as exc:
            raise UserError(f"{path}: a `pattern` and lists of templates per kind ({exc})") from None
        if data:
            raise UserError(f"{path}: unknown key(s) {', '.join(map(str, data))}; kinds are {', '.join(KINDS)}")
        found.append(FactTemplates(path.parent.name, pattern, MappingProxyType(kinds)))
    return tuple(found)


@dataclass(frozen=True)
class FormatPart:
    kind: str
    count: int


def parse_format(spec: str) -> tuple[FormatPart, ...]:
    """`summary8+qa40` -> (summary x 8, qa x 40); a ValueError names what is wrong."""
    parts = []
    for piece in spec.split("+"):
        match = re.fullmatch(r"([a-z_]+?)(\d*)", piece.strip())
        if not match or match.group(1) not in KINDS:
            raise ValueError(f"format part {piece!r}: expected one of {', '.join(KINDS)} with a count, e.g. qa40")
        kind, count = match.group(1), int(match.group(2) or 1)
        if count < 1 or (kind == "raw" and count != 1):
            raise ValueError(f"format part {piece!r}: counts are positive, and raw has none")
        if kind == "study_qa" and count > STUDY_PER_PAPER:
            raise ValueError(f"format part {piece!r}: the study wrote {STUDY_PER_PAPER} pairs per paper")
        parts.append(FormatPart(kind, count))
    if len({p.kind for p in parts}) != len(parts):
        raise ValueError(f"format {spec!r} names a kind twice")
    return tuple(parts)


def template_items(doc: Document, kind: str, count: int, known: Sequence[FactTemplates] | None = None) -> list[str]:
    """`count` documents from the templates (a task folder's whose pattern the fact matches, else
    the generic statement ones), cycling through them."""
    text = doc.contents.strip()
    known = task_templates() if known is None else known
    match = next(((t, m) for t in known if (m := t.pattern.match(text))), None)
    if match is not None and kind in match[0].kinds:
        templates, fields = match[0].kinds[kind], match[1].groupdict()
    elif match is None and "\n" not in text and len(text.split()) >= 3:
        head, tail = text.rstrip(".").rsplit(" ", 1)
        templates, fields = STATEMENT_TEMPLATES[kind], {"head": head, "tail": tail}
    else:
        raise UserError(
            f"document {doc.id!r} is not a one-line fact, so template formats cannot rewrite it; "
            "use a model generator (the `generator` field: empty for the model under test, or a model name)"
        )
    return [templates[i % len(templates)].format(**fields) for i in range(count)]


def parse_qa(text: str) -> str | None:
    """A generated `<question> Answer: <answer>` as a training line, or None if it has no answer."""
    question, marker, answer = text.partition("Answer:")
    question, answer = " ".join(question.split()), answer.strip().split("\n")[0].strip()
    if "?" in question:  # whatever the model wrote after its question mark is not the question
        question = question[: question.index("?") + 1]
    return f"Question: {question} Answer: {answer}" if marker and question and answer else None


@torch.inference_mode()
def sample(model: LoadedModel, prompts: list[str], max_new: int, seed: int, batch_size: int = 8) -> list[str]:
    """One sampled continuation per prompt (temperature 0.8, top-p 0.95), seeded: training data, not answers."""
    tok = model.tokenizer
    torch.manual_seed(seed)
    outputs = []
    for start in range(0, len(prompts), batch_size):
        rows = [
            tok(render_prompt(model, p), add_special_tokens=False).input_ids
            for p in prompts[start : start + batch_size]
        ]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), tok.pad_token_id)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, row in enumerate(rows):
            ids[b, width - len(row) :], mask[b, width - len(row) :] = torch.tensor(row), 1
        with adapters_active(model, Recall()) as net:  # the base model, whatever adapters are loaded
            out = net.generate(
                input_ids=ids.to(model.device),
                attention_mask=mask.to(model.device),
                do_sample=True,
                temperature=0.8,
                top_p=0.95,
                max_new_tokens=max_new,
                pad_token_id=tok.pad_token_id,
            )
        outputs += [t.strip() for t in tok.batch_decode(out[:, width:], skip_special_tokens=True)]
    return outputs


def model_items(model: LoadedModel, doc: Document, kind: str, count: int, seed: int) -> list[str]:
    prompt = PROMPTS[kind].format(doc=doc.contents)
    texts = sample(model, [prompt] * count, MAX_NEW_TOKENS[kind], seed)
    if kind != "qa":
        return [first for t in texts if (first := t.split("\n\n")[0].strip())]  # the first paragraph
    # small models write a question and stop; each question is then answered from the text, as a second turn
    questions = [q for t in texts if (q := question_of(t))]
    if not questions:
        return []
    answers = sample(model, [f"{doc.contents}\n\n{ANSWER_PROMPT.format(question=q)}" for q in questions], 32, seed)
    return [qa for q, a in zip(questions, answers, strict=True) if (qa := parse_qa(f"{q}\nAnswer: {a}"))]


def question_of(text: str) -> str | None:
    """The first question in a generated text (up to its question mark)."""
    line = " ".join(text.split("\n\n")[0].split())
    return line[: line.index("?") + 1] if "?" in line else None


def synthesize(corpus: Corpus, part: FormatPart, generator: str, model: LoadedModel | None, seed: int) -> Corpus:
    """The corpus in one synthetic kind, from the cache when this generator already made it."""
    source = "template" if generator == "template" else model.source  # type: ignore[union-attr]
    prompt = "templates" if generator == "template" else PROMPTS[part.kind]
    if part.kind == "qa" and generator != "template":
        prompt += " ... then " + ANSWER_PROMPT
    name = f"{part.kind}{part.count}"
    key = stable_hash({"generator": source, "prompt": prompt, "corpus": corpus.sha256, "part": name, "seed": seed})
    folder = cache_dir() / "synth" / f"{name}-{key}"
    if (folder / "meta.json").is_file():  # written last: its presence means the data is complete
        return Corpus.from_jsonl(folder / "data.jsonl", name=f"{corpus.name}/{name}")
    started, rows = time.perf_counter(), []
    known = task_templates() if generator == "template" else ()
    for i, doc in enumerate(tqdm(corpus.documents, desc=f"generate {name}", unit="doc")):
        if generator == "template":
            items = template_items(doc, part.kind, part.count, known)
        else:
            items = model_items(model, doc, part.kind, part.count, seed + i)  # type: ignore[arg-type]
        rows += [{"id": f"{doc.id}/{part.kind}{j}", "contents": text} for j, text in enumerate(items)]
    if not rows:
        raise UserError(f"format part {name}: the generator produced no usable training documents")
    meta = {"generator": source, "prompt": prompt, "kind": part.kind, "count": part.count, "seed": seed,
            "documents_in": len(corpus.documents), "documents_out": len(rows),
            "seconds": time.perf_counter() - started}  # fmt: skip
    with staged_folder(folder, complete=lambda f: (f / "meta.json").is_file()) as scratch:
        write_jsonl(scratch / "data.jsonl", rows)
        (scratch / "meta.json").write_text(json.dumps(meta, indent=1))
    return Corpus.from_jsonl(folder / "data.jsonl", name=f"{corpus.name}/{name}")


def internalize(corpus: Corpus, spec: str, generator: str, model: LoadedModel, seed: int) -> Corpus:
    """The training corpus for a format: the raw documents and/or each synthetic kind, concatenated."""
    parts = parse_format(spec)
    if parts == (FormatPart("raw", 1),):
        return corpus
    writer = None
    generated = any(part.kind not in ("raw", "study_qa") for part in parts)
    if generated and generator not in ("", "template"):
        from bench.model.loading import load_model

        writer = load_model(generator)
    documents: list[Document] = []
    for part in parts:
        if part.kind == "raw":
            documents += corpus.documents
        elif part.kind == "study_qa":
            documents += study_documents(corpus, part.count)
        else:
            made = synthesize(corpus, part, generator, writer or model, seed)
            documents += made.documents
    if not documents:  # e.g. study_qa on a window that holds no paper
        raise UserError(f"format {spec}: no training documents for {corpus.name}")
    return Corpus(f"{corpus.name}/{spec}", tuple(documents))
