"""What a nucleus model's type ids mean, and how they fold into the comparison classes.

Presets follow the data sets HoVer-Net is commonly trained on (type ids as in the reference
implementation's ``type_info.json``; 0 is "no label"). Inflammatory cells of PanNuke / CoNSeP
are the closest those models come to "lymphocyte", so they count as one; Lizard and MoNuSAC
have a lymphocyte type of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from napari_ifcell.core.classes import CLASS_OF_PHENOTYPE, CLASSES, LYMPHOCYTE_CLASSES

LYMPHOCYTE, OTHER = "lymphocyte", "other"
COMPARISON_CLASSES = (LYMPHOCYTE, OTHER)
# IF-derived classes (core.classes) -> comparison classes (Immunocto)
DEFAULT_TRUTH_MAP = {c: LYMPHOCYTE if c in LYMPHOCYTE_CLASSES else OTHER for c in CLASSES}


@dataclass(frozen=True)
class TypeMap:
    """``names``: type id -> the model's name; ``classes``: name -> comparison class (names
    not listed, and ids not in ``names``, become ``default``; ``None`` drops the cell)."""

    names: dict[int, str]
    classes: dict[str, str | None]
    um_per_px: float | None = None  # the resolution the model was trained at
    default: str | None = OTHER
    lists_all: bool = True  # False: only the names that are not ``default`` are listed

    def knows(self, type_id) -> bool:
        """Whether the map names this type (else the cell becomes ``default``)."""
        try:
            name = self.names.get(int(type_id))
        except (TypeError, ValueError):
            name = str(type_id)
        if name is None:
            return False
        folded = {str(k).lower() for k in self.classes}
        return any(n.lower() in folded for n in _name_and_base(name))

    def class_of(self, type_id) -> str | None:
        try:
            name = self.names.get(int(type_id))
        except (TypeError, ValueError):
            name = str(type_id)  # a model that writes names (e.g. QuPath classifications)
        if name is None:
            return self.default
        folded = {str(k).lower(): v for k, v in self.classes.items()}
        for n in _name_and_base(name):
            if n in self.classes:
                return self.classes[n]
            if n.lower() in folded:
                return folded[n.lower()]
        return self.default


def _name_and_base(name: str) -> list[str]:
    """A class name, then, for a QuPath derived class (``"Lymphocyte: Positive"``), its base
    class: a map that names the base class maps every class derived from it."""
    base = name.split(":", 1)[0].strip()
    return [name, base] if base and base != name else [name]


def _preset(names: dict[int, str], lymphocyte_names: set[str], um_per_px: float, dropped=()) -> TypeMap:
    classes = {n: (LYMPHOCYTE if n in lymphocyte_names else None if n in dropped else OTHER) for n in names.values()}
    return TypeMap(names={0: "no label", **names}, classes={"no label": OTHER, **classes}, um_per_px=um_per_px)


PRESETS = {
    "pannuke": _preset(
        {1: "neoplastic", 2: "inflammatory", 3: "connective", 4: "dead", 5: "non-neoplastic epithelial"},
        {"inflammatory"},
        0.25,
    ),
    "monusac": _preset({1: "epithelial", 2: "lymphocyte", 3: "macrophage", 4: "neutrophil"}, {"lymphocyte"}, 0.25),
    "consep": _preset({1: "epithelial", 2: "inflammatory", 3: "spindle", 4: "miscellaneous"}, {"inflammatory"}, 0.25),
    # class names, as QuPath GeoJSON (and this plugin's own exports, which carry the gated
    # phenotype: regulatory T, and unknown / inconsistent cells that have no class) carry them;
    # QuPath's built-in classes too (its "Immune cells" the nearest to lymphocytes, as PanNuke's
    # inflammatory cells are)
    "names": TypeMap(
        names={},
        classes={
            "lymphocyte": LYMPHOCYTE,
            "lymphocytes": LYMPHOCYTE,
            "immune cells": LYMPHOCYTE,
            **dict.fromkeys(("tumor", "stroma", "necrosis"), OTHER),
            **DEFAULT_TRUTH_MAP,
            **{phenotype: DEFAULT_TRUTH_MAP[c] for phenotype, c in CLASS_OF_PHENOTYPE.items()},
            "unknown": None,
            "inconsistent": None,
        },
    ),
    "lizard": _preset(
        {1: "neutrophil", 2: "epithelial", 3: "lymphocyte", 4: "plasma", 5: "eosinophil", 6: "connective"},
        {"lymphocyte"},
        0.5,
    ),
    # CellViT / CellViT++ write class names (PanNuke's by default, or a classifier's taxonomy:
    # Lizard, CoNSeP, NuCLS, PanopTILs, ...); their coordinates are the slide's level 0
    "cellvit": TypeMap(
        names={},
        classes={
            **dict.fromkeys(("inflammatory", "lymphocyte", "lymphocytes", "tils", "stil"), LYMPHOCYTE),
            "background": None,
        },
        lists_all=False,
    ),
    # HistoPLUS's 14 cell types; its coordinates are those of its ~0.5 µm/px DeepZoom level
    "histoplus": TypeMap(
        names={}, classes={"lymphocytes": LYMPHOCYTE, "background": None}, um_per_px=0.5, lists_all=False
    ),
}


def type_map(spec: str | dict) -> TypeMap:
    """A preset by name (``pannuke``, ``monusac``, ``consep``, ``lizard``, ``cellvit``,
    ``histoplus``, or ``names`` for files that carry our class names) or a custom map
    ``{"names": {id: name}, "classes": {name: class}, "um_per_px": ..., "default": ...}``;
    a plain ``{id or name: class}`` dict is accepted too."""
    if isinstance(spec, TypeMap):
        return spec
    if isinstance(spec, str):
        try:
            return PRESETS[spec.lower()]
        except KeyError:
            raise ValueError(
                f"unknown type map {spec!r}; expected auto, one of {', '.join(PRESETS)} or a custom map"
            ) from None
    if not isinstance(spec, dict):
        raise ValueError(f"type map: expected a preset name or a mapping, got {type(spec).__name__}")
    if "classes" in spec or "names" in spec:
        names = {int(k): str(v) for k, v in spec.get("names", {}).items()}
        return TypeMap(
            names=names,
            classes=dict(spec.get("classes", {})),
            um_per_px=spec.get("um_per_px"),
            default=spec.get("default", OTHER),
        )
    names = {int(k): str(k) for k in spec if str(k).lstrip("-").isdigit()}
    return TypeMap(names=names, classes={str(k): v for k, v in spec.items()})
