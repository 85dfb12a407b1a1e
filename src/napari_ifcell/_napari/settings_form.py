"""Widget fields generated from the settings dataclasses, as cli/options.py does for the CLI:
the defaults (and so the values a widget starts with) live in the dataclass alone."""

from __future__ import annotations

import dataclasses
import math

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, LineEdit, SpinBox

from napari_ifcell.core.settings import field_specs


def settings_fields(
    cls: type,
    *,
    only: tuple[str, ...],
    labels: dict[str, str] | None = None,
    choices: dict[str, tuple] | None = None,
    ranges: dict[str, tuple[float, float, float]] | None = None,
) -> dict:
    """One magicgui widget per field in ``only``, holding the dataclass default.

    ``ranges[name] = (min, max, step)`` for numbers; ``choices[name]`` makes a combo box.
    """
    out = {}
    for name, (kind, default) in field_specs(cls, only).items():
        label = (labels or {}).get(name, name.replace("_", " ").capitalize())
        lo, hi, step = (ranges or {}).get(name, (0, 10**6, 1))
        if name in (choices or {}):
            out[name] = ComboBox(label=label, choices=list((choices or {})[name]), value=default)
        elif kind is bool:
            out[name] = CheckBox(label=label, value=default)
        elif kind is int:
            out[name] = SpinBox(label=label, min=int(lo), max=int(hi), step=int(step), value=default)
        elif kind is float:
            box = FloatSpinBox(label=label, min=lo, max=hi, step=step)
            # Qt rounds a value to the box's decimals (2 by default: 0.325 would become 0.33)
            box.native.setDecimals(max(2, -math.floor(math.log10(step)) if step > 0 else 2))
            box.value = default
            out[name] = box
        else:
            out[name] = LineEdit(label=label, value="" if default is None else str(default))
    return out


def settings_from_fields(fields: dict, base):
    """``base`` with the values the widgets hold (an empty text field is None)."""
    values = {name: widget.value for name, widget in fields.items()}
    values = {name: (None if value == "" else value) for name, value in values.items()}
    return dataclasses.replace(base, **values)
