"""CounterFact depth probe: the 1k edits asked in other words (`kmb_counterfact_1k_paraphrase`).

The shipped files hold only each statement and its subject: no paraphrase prompts, no
neighbourhood prompts (ROME's CounterFact has both; the study's subset dropped them), and no
relation ids. So the relation is read off the statement's template (the prompt with the
subject replaced by `{}`, the 67 templates of the 1k set mapped by hand below), and each edit
is asked in every paraphrase of its relation: cloze prompts written here, that end where the
object comes, none of them a template any CounterFact size uses (the tests check this, and
that no probe prompt occurs in the training corpus or in `bench.parts.synth`'s templates).

Neighbourhood prompts (other subjects with the same relation, whose answers must not change)
need subjects related to each edited one; the files have none, so there is no such probe.
Rebuild: `python -m tasks.kmb_counterfact.probes`.
"""

from __future__ import annotations

from pathlib import Path

from bench.core.jsonl import write_jsonl
from bench.harness.taskdata import jsonl_dataset

TASK_DIR = Path(__file__).resolve().parent
STEM = "1k"
# relation -> paraphrase cloze prompts ("{}" is the subject; the object follows the prompt)
PARAPHRASES = {
    "official_language": ("One of the official languages of {} is", "The people of {} speak"),
    "work_language": ("The language used in {} is", "{} uses the language"),
    "native_language": ("{}'s first language is", "{} grew up speaking"),
    "speaks": ("{} is fluent in", "{} can converse in"),
    "citizenship": ("The country of citizenship of {} is", "{} is a national of"),
    "work_city": ("The city where {} worked is", "{} had a job in"),
    "maker": ("The company that makes {} is", "{} comes from the company"),
    "headquarters": ("{}'s head office is in", "{} has its main office in"),
    "sport": ("The sport that {} plays is", "{} competes professionally in"),
    "occupation": ("The job of {} is", "By profession, {} is a"),
    "field": ("{} is an expert in", "The discipline {} works in is"),
    "location": ("{} is situated in", "The place where {} lies is"),
    "continent": ("{} lies on the continent of", "The continent where {} is situated is"),
    "origin": ("The country of origin of {} is", "{} has its origins in"),
    "death_place": ("{} died in", "The place where {} died is"),
    "named_after": ("{} takes its name from", "The namesake of {} is"),
    "genre": ("The musical style of {} is", "{} makes music in the genre"),
    "position_played": ("The position of {} on the team is", "On the field, {} is a"),
    "employer": ("{} is on the staff of", "The employer of {} is"),
    "religion": ("The faith of {} is", "{} is a believer in"),
    "instrument": ("The instrument {} plays is the", "{} is a performer on the"),
    "network": ("{} was first broadcast on", "The network that first aired {} is"),
    "owner": ("{} is the property of", "The owner of {} is"),
    "position_held": ("{} has the title of", "The office held by {} is"),
}
RELATIONS = {  # relation -> the 1k set's statement templates that express it
    "official_language": ("In {}, an official language is", "In {}, the language spoken is", "In {}, they understand"),
    "work_language": ("The language of {} was", "{} is written in", "{} was written in",
                      "The original language of {} was"),
    "native_language": ("{} is a native speaker of", "The native language of {} is", "The mother tongue of {} is",
                        "{}, a native"),
    "speaks": ("{}, speaker of", "{} speaks the language", "{} speaks", "{} spoke the language"),
    "citizenship": ("{}, who has a citizenship from", "{}, who holds a citizenship from", "{}, who is a citizen of",
                    "{} holds a citizenship from", "{} has a citizenship from", "{} is a citizen of"),
    "work_city": ("{} worked in the city of", "{} found employment in"),
    "maker": ("{} is created by", "{}, created by", "{}, developed by", "{} is developed by", "{} was developed by",
              "{} is produced by", "{}, a product developed by", "{}, a product of"),
    "headquarters": ("The headquarters of {} is in", "{}'s headquarters are in", "The headquarter of {} is located in",
                     "{} is based in"),
    "sport": ("{} professionally plays the sport", "{} plays", "{}, the"),
    "occupation": ("{}'s profession is an", "{}'s occupation is", "{}, who works as"),
    "field": ("{} works in the field of", "{}'s domain of activity is", "{}'s expertise is"),
    "location": ("{} is located in", "{} can be found in", "{} is located in the country of", "{}, which is located in",
                 "{}, from"),
    "continent": ("{} is located in the continent",),
    "origin": ("{} was developed in", "{}, that was developed in", "{}, that was from"),
    "death_place": ("{} passed away at",),
    "named_after": ("{}, which is named for",),
    "genre": ("The genre played by {} is",),
    "position_played": ("{} plays in the position of", "Which position does {} play? They play as",
                        "{}, who plays the position"),
    "employer": ("{} is employed by",),
    "religion": ("{} is affiliated with the religion",),
    "instrument": ("{} plays the instrument", "{} plays the"),
    "network": ("{} debuted on",),
    "owner": ("{} owner",),
    "position_held": ("{} holds the title of", "{}, who holds the position of"),
}  # fmt: skip
PROBE_YAML = """\
include: _counterfact_template.yaml
task: kmb_counterfact_{stem}_paraphrase
tag: [kmb_depth, kmb_counterfact_probes]
metadata:
  version: 1
  qa: data/{stem}_paraphrase_qa.jsonl
  corpus: data/{stem}_corpus.jsonl
  level: paraphrase
  questions: {questions}
"""


def relation_of() -> dict[str, str]:
    """Statement template -> relation; a template listed under two relations is a mistake."""
    found: dict[str, str] = {}
    for relation, templates in RELATIONS.items():
        for template in templates:
            if template in found:
                raise ValueError(f"template {template!r} is under {found[template]} and {relation}")
            found[template] = relation
    return found


def template_of(row: dict) -> str:
    """The statement's template: its prompt with the subject replaced by `{}` (CounterFact's form)."""
    return row["prompt"].replace(row["subject"], "{}", 1)


def paraphrase_rows(rows: list[dict]) -> list[dict]:
    """Every edit in each paraphrase of its relation, keeping its objects (new, old) and gold document."""
    relations = relation_of()
    out = []
    for row in rows:
        template = template_of(row)
        if template not in relations:
            raise ValueError(f"{row['id']}: template {template!r} has no relation; add it to RELATIONS")
        relation = relations[template]
        for w, wording in enumerate(PARAPHRASES[relation]):
            out.append(
                {
                    "id": f"{row['id']}-p{w}",
                    "prompt": wording.format(row["subject"]),
                    "new": row["new"],
                    "old": row["old"],
                    "subject": row["subject"],
                    "relation": relation,
                    "wording": w,
                    "doc_id": row["doc_id"],
                }
            )
    return out


def build(stem: str = STEM, folder: Path = TASK_DIR) -> int:
    """(Re)write the paraphrase questions and YAML of one size; returns the number of questions."""
    rows = list(jsonl_dataset(f"data/{stem}_qa.jsonl", folder)["test"])
    made = paraphrase_rows(rows)
    write_jsonl(folder / "data" / f"{stem}_paraphrase_qa.jsonl", made)
    (folder / f"kmb_counterfact_{stem}_paraphrase.yaml").write_text(PROBE_YAML.format(stem=stem, questions=len(made)))
    return len(made)


if __name__ == "__main__":
    print(f"kmb_counterfact_{STEM}_paraphrase: {build()} questions")
