"""Dataclass configs loaded from TOML: typed, validated in __post_init__, unknown keys rejected, --set overrides."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from medprefs.errors import MedprefsError

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning a missing file or a syntax error into one clear line."""
    path = Path(path)
    if not path.is_file():
        raise MedprefsError(f"{path}: config file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise MedprefsError(f"{path}: invalid TOML: {error}") from None


def parse_override(assignment: str) -> tuple[list[str], Any]:
    """`a.b=3` -> (["a", "b"], 3); the value is parsed as a TOML value, falling back to a plain string."""
    if "=" not in assignment:
        raise MedprefsError(f"--set {assignment!r}: expected key=value")
    key, raw = assignment.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Return a copy of `data` with each `key.path=value` assignment applied."""
    import copy

    result = copy.deepcopy(data)
    for assignment in assignments:
        keys, value = parse_override(assignment)
        node = result
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise MedprefsError(f"--set {assignment!r}: '{key}' is not a table")
        node[keys[-1]] = value
    return result


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from `data`, recursing into nested dataclasses; unknown keys are an error."""
    if not isinstance(data, dict):
        raise MedprefsError(f"{where}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise MedprefsError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise MedprefsError(f"{where}: {error}") from None
    except MedprefsError as error:
        if type(error) is not MedprefsError:
            raise
        # __post_init__ checks name the field, not the file and section it came from; one that names its section
        # ("sample.n must be ...") gets only what comes before the section ("demo.toml: sample.n must be ...")
        message, section = str(error), where.rpartition(".")[2]
        if message.startswith(f"{section}."):
            where = where[: -len(section)].rstrip(".")
        raise MedprefsError(f"{where}: {message}" if where else message) from None


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None:
            return None
        errors = []
        for option in options:
            try:
                return _coerce(option, value, where)
            except MedprefsError as error:
                errors.append(str(error))
        raise MedprefsError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise MedprefsError(f"{where}: expected a list, got {value!r}")
        (item_hint, *_) = typing.get_args(hint) or (Any,)
        return [_coerce(item_hint, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise MedprefsError(f"{where}: expected a table, got {value!r}")
        return value
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise MedprefsError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and not (hint is int and isinstance(value, bool))):
        raise MedprefsError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """The resolved config as plain data (for manifests and dry runs)."""
    return dataclasses.asdict(config)
