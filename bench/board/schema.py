"""JSON Schemas for run records and leaderboard submissions, derived from their dataclasses.

The dataclasses in `bench/run/record.py` and `bench/board/submission.py` are the single source; the
committed files under `leaderboard/schema/` are generated from them (`python -m bench.board.schema`)
and a test keeps the two in step, so reviewers and other tools can validate without Python.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from bench.core.paths import PROJECT_ROOT
from bench.run.record import SCHEMA_VERSION, RunRecord

SCHEMA_DIR = PROJECT_ROOT / "leaderboard" / "schema"
PRIMITIVES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def type_schema(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if tp in PRIMITIVES:
        return {"type": PRIMITIVES[tp]}
    if tp is type(None):
        return {"type": "null"}
    if tp is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [type_schema(arg) for arg in typing.get_args(tp)]}
    if origin is dict:
        _, value = typing.get_args(tp)
        return {"type": "object", "additionalProperties": type_schema(value)}
    if origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return {"type": "array", "items": type_schema(args[0]) if args else {}}
    if dataclasses.is_dataclass(tp):
        return dataclass_schema(tp)
    raise TypeError(f"no JSON Schema for {tp!r}")


def dataclass_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    return {
        "type": "object",
        "properties": {f.name: type_schema(hints[f.name]) for f in fields},
        "required": [f.name for f in fields if not f.metadata.get("optional")],  # optional: added later
        "additionalProperties": False,
    }


def record_schema() -> dict[str, Any]:
    schema = dataclass_schema(RunRecord)
    schema["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "KMBench run record", **schema}


def submission_schema() -> dict[str, Any]:
    from bench.board.submission import SUBMISSION_VERSION, Submission

    schema = dataclass_schema(Submission)
    schema["properties"]["schema_version"] = {"const": SUBMISSION_VERSION}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "KMBench submission", **schema}


def schema_files() -> dict[Path, dict[str, Any]]:
    from bench.board.submission import SUBMISSION_VERSION

    return {
        SCHEMA_DIR / f"record.v{SCHEMA_VERSION}.schema.json": record_schema(),
        SCHEMA_DIR / f"submission.v{SUBMISSION_VERSION}.schema.json": submission_schema(),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # python -m bench.board.schema: rewrite the committed schema files
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for path, schema in schema_files().items():
        path.write_text(render(schema))
        print(f"wrote {path.relative_to(PROJECT_ROOT)}")
