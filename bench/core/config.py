"""Build frozen config dataclasses from user mappings (YAML, JSON, `--set k=v`), one way for all."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from bench.core.errors import UserError

C = TypeVar("C")

# The profile (named protocol, see `baselines.profiles`) a memory config starts from unless it names
# another; records made before profiles existed were made with it.
DEFAULT_PROFILE = "kmbench"
DEFAULT_MODEL = "smollm2-135m"  # the offline default model alias: every `--model` when none is named


def option(default: Any, help: str, keyed_when_set: bool = False) -> Any:
    """A config field with its help text (peft's `field(metadata={"help": ...})`): `kmbench
    readme` writes the memory reference in docs/ from it, so the doc cannot drift from the code.
    `keyed_when_set`: a field added after records exist, left out of the config's dict (and so of
    run ids, cache keys and records) while it has its default, which is what those records did."""
    return dataclasses.field(default=default, metadata={"help": help, "keyed_when_set": keyed_when_set})


TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def coerce(value: Any, hint: Any, key: str) -> Any:
    """A value as its field's type hint reads it: strings from `--set` parsed (`0,1` is a tuple),
    YAML lists made tuples, and a value of the wrong kind refused in one line. Numbers are not
    rewritten (an int stays an int where a float is hinted), so a config hashes as it always did."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or dataclasses.is_dataclass(hint):
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, key)
            except UserError:
                continue
        raise UserError(f"{key}: cannot read {value!r} as {hint_name(hint)}")
    if origin is tuple:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{key}: cannot read {value!r} as {hint_name(hint)}")
        item = args[0] if args else Any
        return tuple(coerce(v, item, key) for v in value)
    if hint is bool:
        if isinstance(value, str) and value.lower() in TRUE + FALSE:
            return value.lower() in TRUE
        if not isinstance(value, bool):
            raise UserError(f"{key}: cannot read {value!r} as bool (true or false)")
        return value
    if hint in (int, float):
        if isinstance(value, str):
            try:
                return hint(value)
            except ValueError:
                raise UserError(f"{key}: cannot read {value!r} as {hint.__name__}") from None
        allowed = (int,) if hint is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise UserError(f"{key}: cannot read {value!r} as {hint.__name__}")
        return value
    if hint is str and not isinstance(value, str):
        raise UserError(f"{key}: {value!r} is not text")
    return value


def hint_name(hint: Any) -> str:
    """A type hint as a user reads it: `int`, `tuple[int, ...]`, `int | None`."""
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def parse_config(cls: type[C], values: Mapping[str, Any], where: str) -> C:
    """Construct `cls` from `values`, each coerced by its field's type hint; unknown keys, values of
    the wrong kind and invalid values become a `UserError`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {key: coerce(value, hints[key], f"{where}.{key}") for key, value in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: {exc}") from None


def config_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists), without the fields keyed
    only when set (`option(keyed_when_set=True)`) that hold their default."""
    quiet = {
        f.name
        for f in dataclasses.fields(config)
        if f.metadata.get("keyed_when_set") and getattr(config, f.name) == f.default
    }
    return {k: v for k, v in json.loads(json.dumps(dataclasses.asdict(config))).items() if k not in quiet}


def stable_hash(payload: Any, length: int = 12) -> str:
    """Hash of a JSON-able payload, independent of key order."""
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def check(condition: bool, message: str) -> None:
    """Validation inside `__post_init__`: raise ValueError, which `parse_config` reports."""
    if not condition:
        raise ValueError(message)


def profile_of(config: Mapping[str, Any]) -> str:
    """The profile a recorded memory config was built from (memories without knobs use the default)."""
    return str(config.get("profile", DEFAULT_PROFILE))
