"""Does a study-profile PhoneBook adapter hold its numbers, and can it say them as the study asks?

The study's trainer puts the whole line in the user turn; its evaluator closes the user turn
after "Answer:" and lets the model reply. This asks each fact both ways, greedily: as trained
(the user turn left open right after "Answer:") and as evaluated (the reply's turn), and counts
the exact numbers. `python -m tasks.kmb_phonebook.layout_probe <adapter folder> [model] [facts]`.
"""

from __future__ import annotations

import json
import re
import sys

import torch

from bench.core.config import DEFAULT_MODEL
from bench.core.memory import Recall
from bench.model.adapters import adapters_active, load_adapter
from bench.model.loading import load_model
from tasks.kmb_phonebook.build import TASK_DIR

NUMBER = re.compile(r"\d{3}-\d{3}-\d{4}")
QA = TASK_DIR / "data" / "phonebook_study_qa.jsonl"


def prompts(tokenizer, name: str, phone: str) -> dict[str, str]:
    """The two ways of asking one fact, in the model's chat template."""
    line = f"Question: What is the phone number of {name}? Answer: {phone}"
    question = line[: line.rindex("Answer:") + len("Answer:")]
    full = tokenizer.apply_chat_template(
        [{"role": "user", "content": line}], tokenize=False, add_generation_prompt=True
    )
    return {
        "as trained": full[: full.rindex("Answer:") + len("Answer:")],
        "as evaluated": tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        ),
    }


def probe(folder: str, model: str = DEFAULT_MODEL, facts: int = 48) -> dict[str, int]:
    """Exact numbers recalled each way over the study book's first `facts` rows."""
    lm = load_model(model, chat_template=True)
    load_adapter(lm, "main", folder)
    rows = [json.loads(line) for line in QA.read_text().splitlines()][:facts]
    hits = {"as trained": 0, "as evaluated": 0}
    with adapters_active(lm, Recall(adapters=("main",))) as net, torch.inference_mode():
        for row in rows:
            for kind, prompt in prompts(lm.tokenizer, row["name"], row["answer"]).items():
                ids = lm.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids.to(lm.device)
                out = net.generate(ids, max_new_tokens=24, do_sample=False, pad_token_id=lm.tokenizer.pad_token_id)
                found = NUMBER.search(lm.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
                hits[kind] += bool(found and found.group(0) == row["answer"])
    return hits


if __name__ == "__main__":
    folder, *rest = sys.argv[1:]
    counts = probe(folder, *(rest[:1] or ["smollm2-135m"]), *(int(x) for x in rest[1:2]))
    print({kind: f"{n}/{int(rest[1]) if len(rest) > 1 else 48}" for kind, n in counts.items()})
