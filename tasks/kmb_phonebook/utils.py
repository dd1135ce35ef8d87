"""lm-eval scoring hooks for the PhoneBook tasks and their depth probes."""

from __future__ import annotations

import re
from typing import Any

from bench.harness.scoring import normalize


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _first_line(results: list[str]) -> str:
    return results[0].strip().split("\n")[0].strip()


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """exact_match: the first answer line equals the number; digits_match: the first
    NNN-NNN-NNNN-like span in the answer has the right ten digits (forgives chatty answers)."""
    answer = _first_line(results)
    found = re.search(r"\d{3}\D{0,2}\d{3}\D{0,2}\d{4}", answer)
    return {
        "exact_match": float(answer == doc["answer"]),
        "digits_match": float(bool(found) and _digits(found.group(0)) == _digits(doc["answer"])),
    }


STUDY_SPAN = re.compile(r"\d{3}-\d{3}-\d{4}")


def study_answer(text: str) -> str:
    """What the study's evaluator compares (1_GRID_SEARCH/analysis/evaluate_checkpoints_llama.py):
    the first NNN-NNN-NNNN span anywhere in the answer, else its first line without "Answer:"."""
    found = STUDY_SPAN.search(text)
    if found:
        return found.group(0)
    line = text.strip().split("\n")[0].strip()
    return line.removeprefix("Answer:").strip()


def process_study(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """The study's score (arXiv 2603.01097): the digits of `study_answer` (up to 50 generated
    tokens) equal the number's; the strict scores beside it."""
    study = float(_digits(study_answer(results[0])) == _digits(doc["answer"]))
    return {"study_match": study, **process_results(doc, results)}


def process_paraphrase(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """The verbatim scores, plus `exact_match_w<n>` for the question's wording only, so lm-eval's
    mean of that key is the score of one wording (some wordings are much harder than others)."""
    scores = process_results(doc, results)
    return {**scores, f"exact_match_w{doc['wording']}": scores["exact_match"]}


def _names(text: str, name: str) -> bool:
    """Whether the normalized `name` occurs in the normalized text as whole words."""
    return f" {normalize(name)} " in f" {normalize(text)} "


def process_names(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """exact_match: the first answer line is the name (SQuAD normalization: case, punctuation
    and articles ignored); name_match: the line names the person, and not `other` (the second
    person of a two-hop pair), so answering both names scores nothing."""
    answer = _first_line(results)
    other = doc.get("other")
    named = _names(answer, doc["answer"]) and not (other and _names(answer, other))
    return {"exact_match": float(normalize(answer) == normalize(doc["answer"])), "name_match": float(named)}


ABSTAIN = re.compile(r"\bunknown\b|\bdon'?t know\b|\bdo not know\b|\bnot (?:known|listed|available|sure)\b", re.I)
NUMBER = re.compile(r"\d{3}\D{0,2}\d{3}\D{0,2}\d{4}")


def process_absent(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """abstain: the first answer line says it does not know; made_up: it holds a phone number
    (the person is in no book, so any number is invented), whatever else it says."""
    answer = _first_line(results)
    return {"abstain": float(bool(ABSTAIN.search(answer))), "made_up": float(bool(NUMBER.search(answer)))}


def process_update(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """update_match: the first answer line is what the new book says (for a person who left, it
    abstains); each question also scores its kind only, so a metric's mean covers that kind:
    changed_match / stale (the old number) on changed numbers, unchanged_match, added_match,
    removed_abstain / removed_stale on people who left."""
    answer = _first_line(results)
    kind = doc["kind"]
    if kind == "removed":
        abstained, stale = float(bool(ABSTAIN.search(answer))), float(answer == doc["old"])
        return {"update_match": abstained, "removed_abstain": abstained, "removed_stale": stale}
    right = float(answer == doc["answer"])
    if kind == "changed":
        return {"update_match": right, "changed_match": right, "stale": float(answer == doc["old"])}
    return {"update_match": right, f"{kind}_match": right}


def process_shuffled(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """exact_match: the first answer line is the true number; copied: it is the number the
    shuffled book gave this name."""
    answer = _first_line(results)
    return {"exact_match": float(answer == doc["answer"]), "copied": float(answer == doc["given"])}
