"""Command-line options generated from the settings dataclasses, so a default lives in one place.

``add_settings_options(parser, ClassifierConfig, only=("epochs", ...))`` adds ``--epochs`` and
friends with the dataclass's types and defaults (shown in ``--help``); an option left out keeps
the settings' own value, so a command never overrides a default with one of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
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


def finite_float(text: str) -> float:
    """A number option's value: ``nan`` and ``inf`` parse as floats but are no setting."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A length or size option's value: a finite number above 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A count or size option's value: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {text!r}")
    return value


def tile_size(text: str) -> int:
    """A TIFF tile size in pixels: a multiple of 16, as the TIFF format wants."""
    value = positive_int(text)
    if value % 16:
        raise argparse.ArgumentTypeError(f"expected a multiple of 16 px (TIFF tiles), got {text!r}")
    return value


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
            kwargs["type"] = finite_float if kind is float else kind
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


def add_slide_options(parser: argparse.ArgumentParser, *, he: str | None = "optional") -> None:
    """What every command that opens a slide takes besides its path: the pixel size and channel
    names where the file lacks them (or has them wrong), and, with ``he``, the registered H&E
    (``"optional"`` or ``"required"``) with its own pixel size and offset."""
    parser.add_argument(
        "--pixel-size", type=finite_float, help="µm per pixel of the (IF) slide, when its file does not say or is wrong"
    )
    parser.add_argument("--channel-names", help="the slide's channel names, comma-separated, or an MCMICRO markers.csv")
    if he is None:
        return
    parser.add_argument("--he", required=he == "required", help="the registered H&E slide")
    parser.add_argument(
        "--he-pixel-size", type=finite_float, help="µm per pixel of the H&E, when its file does not say"
    )
    parser.add_argument("--he-offset-um", type=finite_float, nargs=2, metavar=("DY", "DX"), default=(0.0, 0.0))


def open_cells_slide(args: argparse.Namespace):
    """``(slide the cells are on, IF + H&E pair or None)`` for a command that takes ``--if``
    (with ``--he`` for a pair) or ``--he`` alone: the IF of a pair, or the H&E slide alone."""
    from napari_ifcell.io import open_slide

    if args.if_slide:
        return open_slides_from_args(args)
    if not args.he:
        raise ValueError("give the slide: --if SLIDE (with --he for a pair) or --he SLIDE for an H&E alone")
    if args.channel_names:
        raise ValueError("--channel-names names an IF slide's channels; an H&E slide alone has none (give --if)")
    he = open_slide(args.he, pixel_size_um=args.he_pixel_size or args.pixel_size)
    if not he.is_rgb:
        raise ValueError(f"{args.he}: given as the H&E but it is not an RGB image; give a fluorescence slide as --if")
    return he, None


def open_slides_from_args(args: argparse.Namespace, path: str | None = None):
    """``(slide, SlidePair or None)`` from a command's slide options (``path``: default ``args.if_slide``)."""
    from napari_ifcell.io import open_pair, open_slide
    from napari_ifcell.io.channels import parse_channel_names

    path = path or args.if_slide
    names = parse_channel_names(args.channel_names) if getattr(args, "channel_names", None) else None
    he = getattr(args, "he", None)
    if he:
        pair = open_pair(
            path,
            he,
            if_pixel_size_um=args.pixel_size,
            he_pixel_size_um=args.he_pixel_size,
            offset_um=tuple(args.he_offset_um),
            channel_names=names,
        )
        return pair.if_slide, pair
    return open_slide(path, pixel_size_um=args.pixel_size, channel_names=names), None


def require_folder(path, what: str):
    """``path`` as a Path when it is a folder; a file there is refused naming ``what`` was
    expected (not "Not a directory: 'cells.parquet/review'")."""
    from pathlib import Path

    path = Path(path)
    if path.is_file():
        raise ValueError(f"{path}: a file; expected {what}")
    return path
