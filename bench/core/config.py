"""Build frozen config dataclasses from user mappings (YAML, JSON, `--set k=v`), one way for all."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from bench.core.errors import UserError

C = TypeVar("C")

# The profile (named protocol, see `baselines.profiles`) a memory config starts from unless it names
# another; records made before profiles existed were made with it.
DEFAULT_PROFILE = "kmbench"
DEFAULT_MODEL = "smollm2-135m"  # the offline default model alias: every `--model` when none is named


def _coerce(value: Any, default: Any, key: str) -> Any:
    """Strings from the command line take the type of the field's default."""
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in value.split(",") if part.strip())
    except ValueError:
        raise UserError(f"{key}: cannot read {value!r} as {type(default).__name__}") from None
    return value


def parse_config(cls: type[C], values: Mapping[str, Any], where: str) -> C:
    """Construct `cls` from `values`; unknown keys and invalid values become a `UserError`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    kwargs = {}
    for key, value in values.items():
        field = fields[key]
        default = field.default if field.default is not dataclasses.MISSING else None
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = _coerce(value, default, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: {exc}") from None


def config_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


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
