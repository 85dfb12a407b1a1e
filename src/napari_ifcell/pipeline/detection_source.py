"""Another model's detection file (HoVer-Net, TIAToolbox, CellViT, HistoPLUS, QuPath) read onto
the slide's grid in comparison classes, saying what was assumed to read it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.compare.type_maps import type_map
from napari_ifcell.io.detections import Frame, place_rows, read_detection_rows
from napari_ifcell.notes import note

# the type map a detection format implies when none is chosen: CellViT and HistoPLUS name
# their classes, QuPath files carry class names; HoVer-Net and TIAToolbox write bare ids
# (Lizard's the most common taxonomy with a lymphocyte type of its own)
FORMAT_TYPE_MAPS = {
    "hovernet-json": "lizard",
    "tiatoolbox": "lizard",
    "tiatoolbox-dat": "lizard",
    "qupath-geojson": "names",
    "cellvit-json": "cellvit",
    "cellvit-geojson": "cellvit",
    "histoplus-json": "histoplus",
}
ID_FORMATS = ("hovernet-json", "tiatoolbox", "tiatoolbox-dat")  # the map is a guess for these
OFF_SLIDE_SHARE = 0.01  # more of a model's cells than this off the slide: its frame is likely wrong
READ_ADVICE = "give the resolution the model ran at and the origin of the image it ran on"


def type_map_spec(value: str):
    """A type map as given by name (a preset, or auto) or as the path of a JSON file holding
    a custom map; the file's map is checked here, so a wrong one is said before any reading."""
    if not value.lower().endswith(".json"):
        return value
    try:
        spec = json.loads(Path(value).read_text(encoding="utf-8"))
        type_map(spec)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{value}: not a readable JSON type map ({exc})") from None
    return spec


def _unknown_types(tmap, types) -> bool:
    """Whether none of a file's types means anything under the map: names the map does not
    list (where it lists every name), or ids under a map of names only."""
    if any(tmap.knows(t) for t in types):
        return False
    ids_only = all(str(t).lstrip("-").isdigit() for t in types)
    return tmap.lists_all or (ids_only and not tmap.names)


@dataclass
class DetectionSource:
    """Another model's detection file and how to read it. ``type_map="auto"``: the one its
    format implies (:data:`FORMAT_TYPE_MAPS`)."""

    path: str | Path
    type_map: str | dict = "auto"
    model_um_per_px: float | None = None  # default: the type map's training resolution
    format: str = "auto"
    origin_px: tuple[float, float] = (0.0, 0.0)
    offset_um: tuple[float, float] = (0.0, 0.0)
    trust: bool = False

    def read(self, slide_um_per_px: float, slide_shape: tuple[int, int] | None = None) -> pd.DataFrame:
        """The model's cells on the slide's grid with their comparison class; notes for what was
        assumed (the type map, the resolution the model ran at), for types the map does not
        name (those cells count as its default class) and for cells off the slide (of
        ``slide_shape``, level-0 px, when given; all of them off is refused). How the file was
        read is in the table's ``attrs["read_as"]``, for the saved report."""
        rows, fmt, recorded = read_detection_rows(self.path, format=self.format, trust=self.trust)
        recorded_um, recorded_where = recorded or (None, "")
        name = Path(self.path).name
        auto = isinstance(self.type_map, str) and self.type_map.lower() == "auto"
        spec = FORMAT_TYPE_MAPS[fmt] if auto else self.type_map
        if auto and fmt in ID_FORMATS:
            note(
                f"{name}: type map {spec!r} assumed ({fmt} files carry type ids without names); "
                "give the model's own (pannuke, consep, monusac, ...) if it was trained on another taxonomy"
            )
        tmap = type_map(spec)
        spec_name = repr(spec) if isinstance(spec, str) else "(a custom one)"
        model_um = self.model_um_per_px or recorded_um or tmap.um_per_px or slide_um_per_px
        source = (
            "given"
            if self.model_um_per_px
            else recorded_where
            if recorded_um
            else f"the type map {spec_name}'s training resolution"
            if tmap.um_per_px
            else "the slide's"
        )
        if not self.model_um_per_px and abs(model_um / slide_um_per_px - 1) > 0.01:
            note(
                f"{name}: its coordinates read at {model_um:g} µm/px ({source}), scaled by "
                f"{model_um / slide_um_per_px:.3g} onto the slide's {slide_um_per_px:g} µm/px; give the "
                "resolution the model ran at (--model-um-per-px; the Compare tab's 'Model ran at') if it differs"
            )
        cells = place_rows(rows, Frame(model_um, slide_um_per_px, tuple(self.origin_px), tuple(self.offset_um)))
        frame = (
            f"read at {model_um:g} µm/px ({source}), origin (y, x) {tuple(self.origin_px)} px, "
            f"H&E offset (dy, dx) {tuple(self.offset_um)} µm"
        )
        if slide_shape is not None:
            check_on_slide(cells, slide_shape, name, frame)
        self._note_types(cells, tmap, name, spec_name, fmt)
        cells["class"] = [tmap.class_of(t) for t in cells["type"]]
        cells = cells[cells["class"].notna()].reset_index(drop=True)
        cells.attrs["read_as"] = f"{self.path} ({fmt}, type map {spec_name}, {frame})"
        return cells

    @staticmethod
    def _note_types(cells: pd.DataFrame, tmap, name: str, spec_name: str, fmt: str) -> None:
        """Say when the file's cell types mean nothing, or only partly something, under the map."""
        if not len(cells):
            note(f"{name}: no cells in the file ({fmt}); the model scores 0")
            return
        if cells["type"].isna().all():
            note(
                f"{name}: the file has no cell types (a segmentation-only run?); every cell counts as "
                f"{tmap.default!r}, so its per-class scores say nothing of its classes: compare its cells "
                "without a truth (model-vs-model agreement), or give a file with types"
            )
            return
        untyped = int(cells["type"].isna().sum())
        if untyped:
            note(f"{name}: {untyped} of its {len(cells)} cells have no type and count as {tmap.default!r}")
        if _unknown_types(tmap, kinds := pd.unique(cells["type"].dropna())):
            note(
                f"{name}: none of its cell types ({', '.join(repr(str(t)) for t in kinds[:4])}) is in the type map "
                f"{spec_name}; every cell counts as {tmap.default!r} (choose the type map of the model's taxonomy)"
            )
        elif tmap.lists_all and (unknown := [t for t in kinds if not tmap.knows(t)]):
            counts = cells["type"].value_counts(dropna=False)
            listed = ", ".join(f"{str(t)!r} ({counts.get(t, 0)})" for t in unknown[:5])
            note(
                f"{name}: cells of type(s) {listed} are not in the type map {spec_name} and count as "
                f"{tmap.default!r}; a custom type map names them (--type-map map.json, "
                '{"classes": {"<type>": "lymphocyte"}}; the Compare tab\'s Type map file)'
            )


def check_on_slide(
    cells: pd.DataFrame, slide_shape: tuple[int, int], name: str, frame: str, advice: str = READ_ADVICE
) -> None:
    """Refuse a model all of whose cells lie off the slide, and note one with more than
    :data:`OFF_SLIDE_SHARE` off it: read at the wrong resolution or origin (or made on another
    slide), it scores nothing. ``frame``: how its cells were placed; ``advice``: what to check."""
    if not len(cells):
        return
    h, w = slide_shape[-2:]
    y, x = cells["y"].to_numpy(float), cells["x"].to_numpy(float)
    off = (y < 0) | (y >= h) | (x < 0) | (x >= w)
    if not off.any():
        return
    said = (
        f"{int(off.sum())} of its {len(cells)} cells lie off the slide ({h} x {w} px; the cells reach "
        f"y {np.nanmax(y):.0f}, x {np.nanmax(x):.0f}) when {frame}"
    )
    if off.all():
        raise ValueError(f"{name}: {said}; {advice}")
    if off.mean() > OFF_SLIDE_SHARE:
        note(f"{name}: {said}; if that is wrong, {advice}")
