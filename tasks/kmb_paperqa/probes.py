"""PaperQA depth probe: every question of the small set reworded (`kmb_paperqa_small_paraphrase`).

The rewording is rule-based and seeded, no model involved: the question's frame is changed
("What is X?" -> "Tell me X.", "How does X?" -> "In what way does X?", "Why X?" -> "For what
reason X?", "What <noun>" -> "Which <noun>", a leading "According to the paper," rephrased),
then a few plain words swapped for synonyms (never a technical term); where a rule offers
several forms, a generator seeded by the task seed and the question id picks one. Every
question comes out changed (the builder refuses one that does not). Same answers, same
papers, same corpus file as `kmb_paperqa_small`, so the same adapter serves both.
Rebuild: `python -m tasks.kmb_paperqa.probes`.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from bench.core.jsonl import write_jsonl
from bench.harness.taskdata import jsonl_dataset

TASK_DIR = Path(__file__).resolve().parent
STEM = "small"
SEED = 0
LEADS = (  # a leading clause, and what may replace it
    (r"According to the (paper|text|proposed rationale), ", ("As the {0} puts it, ", "In the {0}'s account, ")),
    (r"Based on the introduction, ", ("Going by the introduction, ", "From the introduction, ")),
)
VERBS = "causes|happens|distinguishes|suggests|explains|makes|leads|allows|enables|determines"
AUXILIARIES = "is|are|was|were|does|do|did|can|could|would|will|has|have|had"
FRAMES = (  # the question without its leading clause -> its new frame (first match wins)
    (r"What does (\S+) stand for\?", ("What is {0} short for?", "Spell out the abbreviation {0}.")),
    (r"What is the name of (.+)\?", ("Name {0}.", "What is {0} called?")),
    (r"What is (.+) called\?", ("What name is given to {0}?",)),
    (r"How many (.+)\?", ("What number of {0}?",)),
    (r"Why (.+)\?", ("For what reason {0}?",)),
    (r"How (does|do|did|is|are|can) (.+)\?", ("In what way {0} {1}?", "By what means {0} {1}?")),
    (r"In what way (.+)\?", ("How {0}?",)),
    (r"Who (.+)\?", ("Which researchers {0}?",)),
    (rf"What ({VERBS}) (.+)\?", ("What is it that {0} {1}?",)),
    (r"(?:What|Which) (?:is|are) (.+)\?", ("Tell me {0}.", "Please state {0}.")),
    (r"What did (.+) suggest\?", ("What was suggested by {0}?",)),
    (r"What (does|did|do) (.+)\?", ("What, according to the paper, {0} {1}?",)),
    (rf"What (?!(?:{AUXILIARIES})\b)(\w+) (.+)\?", ("Which {0} {1}?",)),
    (r"Which (\w+) (.+)\?", ("What {0} {1}?",)),
    (r"Summarize (.+)\.", ("Give a brief summary of {0}.",)),
    (r"Describe (.+)\.", ("Explain {0}.",)),
    (r"(.+) what (\w+) (.+)\?", ("{0} which {1} {2}?",)),
    (r"(.+) why (.+)\?", ("{0} for what reason {1}?",)),
)
SYNONYMS = {  # plain words only, whole-word and case-sensitive
    "primary": "main",
    "specific": "particular",
    "mentioned": "named",
    "the authors": "the researchers",
    "in the text": "in the passage",
    "significant": "considerable",
    "fundamental": "basic",
    "described as": "characterized as",
    "approach": "method",
    "central": "chief",
    "ultimate": "final",
}
PROBE_YAML = """\
include: _paperqa_template.yaml
task: kmb_paperqa_{stem}_paraphrase
tag: [kmb_depth_paperqa, kmb_paperqa_probes]
metadata:
  version: 1
  qa: data/{stem}_paraphrase_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  primary_metric: rougeL
  level: paraphrase
  questions: {questions}
"""


def split_lead(question: str, rng: random.Random) -> tuple[str, str]:
    """(leading clause, rest): a known lead rephrased, another kept as it is, or none."""
    for pattern, forms in LEADS:
        if match := re.match(pattern, question):
            return rng.choice(forms).format(*match.groups()), question[match.end() :]
    if clause := re.match(r"((?:In|Within|Despite|When)\b[^,?]*, )(.*)", question):
        return clause.group(1), clause.group(2)
    return "", question


def reword(question: str, rng: random.Random) -> str:
    """The question in another frame and a few other words; unchanged if no rule applies."""
    lead, body = split_lead(question, rng)
    body = body[:1].upper() + body[1:]  # the frames match a question's start
    for pattern, forms in FRAMES:
        if match := re.fullmatch(pattern, body):
            body = rng.choice(forms).format(*match.groups())
            break
    if lead and not re.match(r"[A-Z]{2}|[A-Z]\w*_", body):  # lower the first word, unless an acronym
        body = body[:1].lower() + body[1:]
    text = lead + body
    for word, other in SYNONYMS.items():
        text = re.sub(rf"\b{re.escape(word)}\b", other, text)
    return text[:1].upper() + text[1:]


def paraphrase_rows(rows: list[dict], seed: int = SEED) -> list[dict]:
    """Every question reworded (seeded per question id), answers and level kept."""
    out = []
    for row in rows:
        question = reword(row["question"], random.Random(f"{seed}:{row['id']}"))
        if question == row["question"]:
            raise ValueError(f"{row['id']}: no rule rewords {row['question']!r}; add one")
        out.append({**row, "id": f"{row['id']}-p", "question": question, "original": row["question"]})
    return out


def build(stem: str = STEM, seed: int = SEED, folder: Path = TASK_DIR) -> int:
    """(Re)write the reworded questions and YAML of one set; returns the number of questions."""
    rows = paraphrase_rows(list(jsonl_dataset(f"data/{stem}_qa.jsonl", folder)["test"]), seed)
    write_jsonl(folder / "data" / f"{stem}_paraphrase_qa.jsonl", rows)
    (folder / f"kmb_paperqa_{stem}_paraphrase.yaml").write_text(PROBE_YAML.format(stem=stem, questions=len(rows)))
    return len(rows)


if __name__ == "__main__":
    print(f"kmb_paperqa_{STEM}_paraphrase: {build()} questions")
