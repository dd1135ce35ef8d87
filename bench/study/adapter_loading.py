"""Measure answering with many adapters: loaded per query (as the study's Q15 did) against loaded once.

    python -m bench.study.adapter_loading [--model smollm2-135m] [--task kmb_phonebook_1k] [--modules 4]

Trains (or takes from the cache) the task's K oracle-routed modules, then answers every
question three ways and prints seconds and ratios:
  per-query load   the question's module read from disk before answering it, one at a time;
  preloaded        all modules loaded once, still one question at a time;
  preloaded+batch  all modules loaded once, questions grouped by module and batched (KMBench's reader).
"""

from __future__ import annotations

import argparse
import time

from bench.answer.lm import gold_doc
from bench.answer.reader import Reader
from bench.core.memory import Query
from bench.harness.taskspec import task_manager, task_spec
from bench.model.adapters import load_adapter, unload_adapters
from bench.model.loading import load_model
from bench.run.memories import make_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="kmb_phonebook_1k")
    parser.add_argument("--modules", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    from lm_eval.tasks import get_task_dict

    manager = task_manager()
    spec = task_spec(manager, args.task)
    task = get_task_dict([args.task], manager)[args.task]
    docs = list(task.eval_docs)
    prompts = [task.doc_to_text(d) for d in docs]
    gen = task.config.generation_kwargs or {}
    until, max_new = list(gen.get("until") or []), int(gen.get("max_gen_toks", 64))
    lm = load_model(args.model)
    memory = make_memory("multilora", {"modules": args.modules}, seed=0)
    memory.write(spec.corpus(), lm)
    recalls = memory.recall([Query(p, gold_doc(d)) for p, d in zip(prompts, docs, strict=True)], 0)
    folders = memory.folders
    reader = Reader(lm, args.batch_size)

    def one_at_a_time(load_each: bool) -> tuple[float, list[str]]:
        started, texts = time.perf_counter(), []
        for prompt, recall in zip(prompts, recalls, strict=True):
            if load_each:  # what a server without an adapter store does: read the module, then answer
                unload_adapters(lm)
                name = recall.adapters[0]
                load_adapter(lm, name, folders[int(name.removeprefix("m"))])
            texts += [a.text for a in reader.generate([prompt], [recall], 0, until, max_new)]
        return time.perf_counter() - started, texts

    per_query, loaded_texts = one_at_a_time(load_each=True)
    unload_adapters(lm)
    for i, folder in enumerate(folders):
        load_adapter(lm, f"m{i}", folder)
    preloaded, single_texts = one_at_a_time(load_each=False)
    started = time.perf_counter()
    batched = [a.text for a in reader.generate(prompts, list(recalls), 0, until, max_new)]
    grouped = time.perf_counter() - started
    unload_adapters(lm)
    same = sum(a == b == c for a, b, c in zip(loaded_texts, single_texts, batched, strict=True))
    n = len(prompts)
    print(f"{args.task}: {n} questions, {len(folders)} modules, model {lm.name}, device {lm.device}")
    for label, seconds in (("per-query load", per_query), ("preloaded", preloaded), ("preloaded+batch", grouped)):
        print(f"  {label:<16} {seconds:8.1f} s  {seconds / n:6.3f} s/question  {per_query / seconds:5.2f}x")
    print(f"  identical answers across the three: {same}/{n}")


if __name__ == "__main__":
    main()
