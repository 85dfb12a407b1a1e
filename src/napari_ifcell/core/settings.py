"""What a settings dataclass says about its fields: type and default. The CLI's options and
the widgets' fields are both generated from it, so a default lives in the dataclass alone."""

from __future__ import annotations

import dataclasses
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
