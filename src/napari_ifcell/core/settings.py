"""What a settings dataclass says about its fields: type and default. The CLI's options and
the widgets' fields are both generated from it, so a default lives in the dataclass alone;
settings read from a file are checked against the same type hints."""

from __future__ import annotations

import dataclasses
import math
import reprlib
import types
import typing
from typing import Any


def field_specs(cls: type, names: tuple[str, ...]) -> dict[str, tuple[Any, Any]]:
    """``{name: (type hint, default)}`` for the named fields of a settings dataclass."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for name in names:
        field = fields[name]
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            raise TypeError(f"{cls.__name__}.{name} has no default")
        out[name] = (hints[name], default)
    return out


def type_problems(cls: type, values: dict[str, Any]) -> list[str]:
    """``'name: expected …, got …'`` for each value that does not fit its field's type hint
    (values read from YAML/JSON: a list stands for a tuple, an integer for a float)."""
    hints = typing.get_type_hints(cls)
    out = []
    for name, value in values.items():
        hint = hints.get(name)
        if hint is not None and not _fits(value, hint):
            expected = "finite numbers (not nan or inf)" if _non_finite(value) else _describe(hint)
            out.append(f"{name}: expected {expected}, got {reprlib.repr(value)}")  # shortened, never a dump
    return out


def settings_from_mapping(cls: type, values: Any, where: str, problems: list[str]):
    """An instance of the settings dataclass ``cls`` from a mapping read from a file, or None
    with every problem (not a mapping, unknown names, wrong types, refused values) appended."""
    if values is None:
        return cls()
    if not isinstance(values, dict):
        problems.append(f"{where}: expected a mapping, got {type(values).__name__}")
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(values) - names)
    if unknown:
        problems.append(f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    known = {k: v for k, v in values.items() if k in names}
    wrong = type_problems(cls, known)
    problems.extend(f"{where}.{p}" for p in wrong)
    if wrong:
        return None
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in known.items()})
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {exc}")
        return None


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    if origin is not None:
        return isinstance(value, origin)
    if isinstance(value, bool):
        return hint is bool  # True is an int to Python, not to a user
    if hint is float:
        return isinstance(value, (int, float)) and not _non_finite(value)  # YAML's .nan and .inf too
    return not isinstance(hint, type) or isinstance(value, hint)


def is_finite_number(value: Any) -> bool:
    """An int or float (not a bool) that a float holds, not nan or inf, as read from a file."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer of hundreds of digits: no float holds it
        return False


def _non_finite(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not is_finite_number(value)


_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping"}


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
        return f"a list of {len(args)} values"
    if origin is typing.Literal:
        return f"one of {args}"
    return _NAMES.get(hint, getattr(hint, "__name__", str(hint)))
