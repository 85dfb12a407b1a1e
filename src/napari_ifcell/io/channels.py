"""Channel names: the nuclear stain under its many names, and names from a sidecar file.

Files name the nuclear stain ``Hoechst``, ``Hoechst 33342``, ``DAPI``, ``DNA_1``, ``nuclei``...
MCMICRO keeps the names in a ``markers.csv`` (a ``marker_name`` column, one row per channel)
next to the image or one folder up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from napari_ifcell.io.errors import SlideMetadataError

NUCLEAR_STAINS = ("hoechst", "dapi", "dna", "nuclei", "nucleus", "nuclear")


def is_nuclear_stain(name: str) -> bool:
    """Whether a channel name is a nuclear stain (any case, spacing or trailing number)."""
    plain = re.sub(r"[^a-z0-9]", "", str(name).lower())
    return re.sub(r"\d+$", "", plain) in NUCLEAR_STAINS


def panel_channels(wanted: Sequence[str], names: Sequence[str]) -> tuple[str, ...]:
    """This panel's own names for channels asked for by Orion's (the review gallery's, say):
    the nuclear stain by its job (DAPI for Hoechst), a marker by name without case, spaces or
    dashes (PanCK for Pan-CK) or by another panel's name for it (CD3 for CD3e); channels the
    panel lacks are left out."""
    from napari_ifcell.core.gating.gateset import panel_names

    names = list(names)
    plain = {_plain(n): n for n in names}
    aliases = panel_names(names)
    found = []
    for name in wanted:
        if is_nuclear_stain(name) and any(is_nuclear_stain(n) for n in names):
            found.append(names[nuclear_channel_index(names, name)])
        elif _plain(name) in plain:
            found.append(plain[_plain(name)])
        elif name in aliases:
            found.append(aliases[name])
    return tuple(dict.fromkeys(found))


def _plain(name: str) -> str:
    """A channel name without case, spaces, dashes or underscores (``Pan-CK`` = ``PanCK``)."""
    return re.sub(r"[\s_\-]", "", name).lower()


def nuclear_channel_index(names: Sequence[str], wanted: str | int | None = None, *, path=None) -> int:
    """Index of the nuclear channel: ``wanted`` (a name, any case, or an index), else the first
    channel named as a nuclear stain, else the only channel."""
    names = list(names)
    if wanted not in (None, ""):
        if not isinstance(wanted, int) and str(wanted) in names:  # a name first: channels named "405", "488"
            return names.index(str(wanted))
        if isinstance(wanted, int) or str(wanted).isdigit():
            index = int(wanted)
            if 0 <= index < len(names):
                return index
        else:
            lowered = [n.lower() for n in names]
            if str(wanted).lower() in lowered:
                return lowered.index(str(wanted).lower())
            if is_nuclear_stain(str(wanted)):  # "Hoechst" asked, "DAPI" present: the same job
                found = [i for i, n in enumerate(names) if is_nuclear_stain(n)]
                if found:
                    return found[0]
        raise SlideMetadataError(path, f"no channel {wanted!r} for the nuclear stain; channels are {names}")
    for i, name in enumerate(names):
        if is_nuclear_stain(name):
            return i
    if len(names) == 1:
        return 0
    raise SlideMetadataError(
        path,
        f"no channel is named as a nuclear stain (Hoechst, DAPI, DNA, nuclei) among {names}; "
        "say which channel it is (Nuclear stain in the Segment tab; --nuclear-channel in the CLI, where the "
        "command has it) or name the channels (--channel-names)",
    )


def read_marker_names(path: str | Path) -> list[str]:
    """Channel names from an MCMICRO ``markers.csv`` (its ``marker_name`` column)."""
    import pandas as pd

    from napari_ifcell.io.cell_table import csv_dialect

    path = Path(path)
    try:
        table = pd.read_csv(path, **csv_dialect(path))
    except (OSError, ValueError) as exc:
        raise SlideMetadataError(path, f"not a readable markers CSV ({exc})") from None
    if "marker_name" not in table.columns:
        raise SlideMetadataError(path, f"no 'marker_name' column (columns: {list(table.columns)})")
    return [str(n).strip() for n in table["marker_name"]]


def sidecar_marker_names(slide_path: str | Path) -> tuple[Path, list[str]] | None:
    """``(markers.csv, names)`` next to the slide or one folder up (MCMICRO's layout)."""
    slide_path = Path(slide_path)
    for folder in (slide_path.parent, slide_path.parent.parent):
        candidate = folder / "markers.csv"
        if candidate.is_file():
            return candidate, read_marker_names(candidate)
    return None


def parse_channel_names(value: str) -> list[str]:
    """``--channel-names``: a comma-separated list, or a markers.csv file."""
    if value.lower().endswith(".csv") and Path(value).is_file():
        return read_marker_names(value)
    names = [n.strip() for n in value.split(",")]
    if not all(names):
        raise ValueError(f"--channel-names {value!r}: expected NAME,NAME,... or a markers.csv file")
    return names
