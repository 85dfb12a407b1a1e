"""Command-line options generated from the settings dataclasses, so a default lives in one place.

``add_settings_options(parser, ClassifierConfig, only=("epochs", ...))`` adds ``--epochs`` and
friends with the dataclass's types and defaults (shown in ``--help``); an option left out keeps
the settings' own value, so a command never overrides a default with one of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

from napari_ifcell.core.settings import field_specs


def _option_kind(hint) -> tuple[type | None, bool]:
    """(element type, is a sequence) for a field's type hint; Optional[X] is X."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _option_kind(args[0]) if len(args) == 1 else (None, False)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return (args[0] if args else str), True
    return (hint if hint in (int, float, str, bool) else None), False


def _dest(cls: type, name: str) -> str:
    return f"{cls.__name__}.{name}"


def add_settings_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    only: tuple[str, ...],
    flags: dict[str, str] | None = None,
    choices: dict[str, tuple] | None = None,
    helps: dict[str, str] | None = None,
) -> None:
    """One option per field named in ``only``: ``--field-name`` (or ``flags[name]``)."""
    for name, (hint, default) in field_specs(cls, only).items():
        kind, many = _option_kind(hint)
        if kind is None:
            raise TypeError(f"{cls.__name__}.{name}: no command-line form for {hint}")
        flag = (flags or {}).get(name, "--" + name.replace("_", "-"))
        shown = " ".join(map(str, default)) if many else default
        text = ((helps or {}).get(name, "") + f" (default: {shown})").strip()
        kwargs: dict[str, Any] = {"dest": _dest(cls, name), "default": None, "help": text}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = kind
            if many:
                kwargs["nargs"] = "+"
            if name in (choices or {}):
                kwargs["choices"] = (choices or {})[name]
            else:
                kwargs["metavar"] = flag.lstrip("-").replace("-", "_").upper()
        parser.add_argument(flag, **kwargs)


def settings_from_args(args: argparse.Namespace, base):
    """``base`` with the fields the user gave on the command line replaced."""
    changes = {}
    for field in dataclasses.fields(base):
        value = getattr(args, _dest(type(base), field.name), None)
        if value is not None:
            changes[field.name] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(base, **changes)
