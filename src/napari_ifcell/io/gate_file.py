"""Gate files: YAML or JSON with a schema version and provenance; scimap's manual_gates.csv.

scimap applies its single gate per marker to log1p-transformed intensities; we store raw
intensities. Export writes log1p of the positive threshold; import sets negative and
positive thresholds to the scimap gate (no uncertain band) and no over-exposure limit.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from napari_ifcell.core.gating import DEFAULT_HIERARCHY, GateError, GateSet, MarkerGate, now_iso
from napari_ifcell.core.gating.gateset import with_default_rules
from napari_ifcell.core.gating.phenotypes import PhenotypeRule
from napari_ifcell.core.settings import settings_from_mapping, type_problems
from napari_ifcell.io.atomic import atomic_text, atomic_write
from napari_ifcell.notes import note

SCHEMA_VERSION = 1
TOP_LEVEL = ("schema_version", "slide", "saved_at", "gates", "hierarchy", "phenotypes")
GATE_FIELDS = ("thresholds", "compartment", "transform", "cofactor", "source", "set_by", "set_at")


def gates_to_dict(gateset: GateSet) -> dict:
    gates = {}
    for marker, gate in gateset.gates.items():
        entry = {k: v for k, v in asdict(gate).items() if k != "marker"}
        entry["thresholds"] = [None if math.isinf(v) else float(v) for v in gate.thresholds]
        gates[marker] = entry
    assert gateset.phenotypes is not None  # GateSet replaces None by the default rules
    phenotypes = [
        {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(r).items() if v} for r in gateset.phenotypes
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "slide": gateset.slide,
        "saved_at": now_iso(),
        "gates": gates,
        "hierarchy": dict(gateset.hierarchy),
        "phenotypes": phenotypes,
    }


def gates_from_dict(doc: dict, *, path=None, columns=None) -> GateSet:
    """Parse and validate (against a cell table's ``columns`` if given); every problem at once."""
    problems = []
    if not isinstance(doc, dict):
        raise GateError([f"expected a mapping at the top level, got {type(doc).__name__}"], path)
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        problems.append(f"schema_version is {version!r}; this version of napari-ifcell reads {SCHEMA_VERSION}")
    unknown_keys = sorted(str(k) for k in set(doc) - set(TOP_LEVEL))
    if unknown_keys:
        problems.append(
            f"unknown top-level field(s) {', '.join(unknown_keys)}; known: {', '.join(TOP_LEVEL)} "
            "(each marker's gate goes under 'gates')"
        )
    gates = {}
    raw_gates = doc.get("gates") or {}
    if not isinstance(raw_gates, dict):
        problems.append(f"gates: expected a mapping of marker -> gate, got {type(raw_gates).__name__}")
        raw_gates = {}
    for marker, entry in raw_gates.items():
        if not isinstance(entry, dict):
            problems.append(f"{marker}: expected a mapping of gate fields")
            continue
        unknown = sorted(str(k) for k in set(entry) - set(GATE_FIELDS))
        if unknown:
            problems.append(f"{marker}: unknown field(s) {', '.join(unknown)}")
        wrong = type_problems(MarkerGate, {k: v for k, v in entry.items() if k in GATE_FIELDS and k != "thresholds"})
        if wrong:
            problems.extend(f"{marker}.{p}" for p in wrong)
            continue
        thresholds = entry.get("thresholds")
        if not isinstance(thresholds, (list, tuple)):
            problems.append(f"{marker}: thresholds must be a list of three numbers")
            continue
        try:
            values = tuple(math.inf if v is None else float(v) for v in thresholds)
        except (TypeError, ValueError):
            problems.append(f"{marker}: thresholds must be numbers, got {thresholds}")
            continue
        fields = {k: entry[k] for k in GATE_FIELDS if k in entry and k != "thresholds"}
        # not necessarily three: MarkerGate.problems() reports a wrong count with the rest
        gates[marker] = MarkerGate(marker, cast("tuple[float, float, float]", values), **fields)
    raw_rules = doc.get("phenotypes") or []
    if not isinstance(raw_rules, list):
        problems.append(f"phenotypes: expected a list of rules, got {type(raw_rules).__name__}")
        raw_rules = []
    rules = []
    for i, raw in enumerate(raw_rules):
        if not raw:  # an empty entry would otherwise build a rule without a name
            problems.append(f"phenotypes[{i}]: expected a rule with a name")
        elif (rule := settings_from_mapping(PhenotypeRule, raw, f"phenotypes[{i}]", problems)) is not None:
            rules.append(rule)
    # A file written by hand may give gates alone: the default hierarchy and phenotype rules
    # are then fitted to the markers it gates, as for a scimap gate file (Orion's would ask
    # for a gate on every one of its markers).
    default_hierarchy, default_rules = dict(DEFAULT_HIERARCHY), None
    if not ("hierarchy" in doc and "phenotypes" in doc) and gates:
        from napari_ifcell.notes import recording_notes

        where = Path(path).name if path is not None else "the gate file"
        with recording_notes() as said:
            fitted = with_default_rules(gates, missing=f"{where} has no gate for {{markers}}")
        default_hierarchy, default_rules = fitted.hierarchy, fitted.phenotypes
        given = tuple(part for part in ("hierarchy", "phenotype") if part in doc or f"{part}s" in doc)
        for message in said:  # about the defaults used, not those the file replaces
            if not message.startswith(given):
                note(message)
    hierarchy = (doc.get("hierarchy") or {}) if "hierarchy" in doc else default_hierarchy
    if not isinstance(hierarchy, dict) or not all(isinstance(v, str) for v in hierarchy.values()):
        problems.append("hierarchy: expected a mapping of child marker -> parent marker")
        hierarchy = {}
    if not isinstance(doc.get("slide", ""), str):
        problems.append(f"slide: expected a string, got {type(doc['slide']).__name__}")
    gateset = GateSet(
        gates=gates,
        hierarchy=dict(hierarchy),
        phenotypes=rules if "phenotypes" in doc else default_rules,
        slide=str(doc.get("slide", "")),
    )
    problems.extend(gateset.problems(columns))
    if problems:
        raise GateError(problems, path)
    return gateset


GATE_FILE_SUFFIXES = (".yaml", ".yml", ".json", ".csv")  # .csv: scimap's manual_gates.csv


def save_gates(gateset: GateSet, path: str | Path, *, image_id: str = "image") -> Path:
    """Write atomically; ``.yaml``/``.yml`` or ``.json`` by suffix, or a scimap
    ``manual_gates.csv`` (``.csv``: one gate per marker, for image ``image_id``)."""
    path = Path(path)
    doc = gates_to_dict(gateset.validate())
    if path.suffix.lower() == ".csv":
        note(
            f"{path.name}: a scimap gate file holds one gate per marker (the positive threshold); "
            "the uncertain band, over-exposure, hierarchy and phenotype rules are kept only in .yaml or .json"
        )
        return export_scimap_gates(gateset, path, image_id=image_id)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    elif path.suffix.lower() == ".json":
        text = json.dumps(doc, indent=2)
    else:
        raise GateError([f"unknown gate file type {path.suffix!r}; use .yaml, .json or a scimap .csv"], path)
    return atomic_text(path, text)


def load_gates(path: str | Path, *, columns=None) -> GateSet:
    """A gate file (YAML or JSON), or a scimap ``manual_gates.csv`` (its first image column)."""
    path = Path(path)
    if not path.is_file():
        raise GateError(["no such file"], path)
    if path.suffix.lower() == ".csv":
        return scimap_gateset(path).validate(columns, path=path)
    try:
        text = path.read_text(encoding="utf-8")
        from napari_ifcell.io.safe_yaml import load_json, load_yaml

        doc = load_yaml(text) if path.suffix.lower() in (".yaml", ".yml") else load_json(text)
    except Exception as exc:
        raise GateError([f"not valid {path.suffix.lstrip('.').upper()}: {exc}"], path) from exc
    return gates_from_dict(doc, path=path, columns=columns)


def export_scimap_gates(gateset: GateSet, path: str | Path, *, image_id: str = "image") -> Path:
    """scimap ``manual_gates.csv``: ``markers,<image_id>`` with log1p gates."""
    rows = [(m, float(np.log1p(g.thresholds[1]))) for m, g in gateset.gates.items()]
    frame = pd.DataFrame(rows, columns=["markers", image_id])
    return atomic_write(path, lambda p: frame.to_csv(p, index=False))


def scimap_gateset(path: str | Path, *, image_id: str | None = None) -> GateSet:
    """A scimap CSV's gates with the default hierarchy and the phenotype rules its markers allow."""
    missing = f"{Path(path).name} has no gate for {{markers}}"
    return with_default_rules(import_scimap_gates(path, image_id=image_id), missing=missing)


def import_scimap_gates(
    path: str | Path, *, image_id: str | None = None, compartment: str = "cell"
) -> dict[str, MarkerGate]:
    """Gates from a scimap CSV (first column markers, then one column per image).

    Every row is checked: a marker name, no marker twice, and a gate that is a finite, non-negative
    log1p intensity (scimap gates on ``log1p``; a negative one would sit below every raw value).
    """
    from napari_ifcell.io.cell_table import csv_dialect

    path = Path(path)
    try:
        dialect = csv_dialect(path)
        frame = pd.read_csv(path, **dialect, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise GateError([f"cannot read the CSV: {exc}"], path) from exc
    if frame.shape[1] < 2:
        raise GateError(["expected a markers column and at least one image column"], path)
    column = image_id or frame.columns[1]
    if column not in frame.columns:
        raise GateError([f"no column {column!r}; image columns are {list(frame.columns[1:])}"], path)
    if image_id is None and frame.shape[1] > 2:
        from napari_ifcell.notes import note

        note(f"{path}: gates for {frame.shape[1] - 1} images; using the first, {column!r}")
    gates: dict[str, MarkerGate] = {}
    problems = []
    for row, (marker, text) in enumerate(zip(frame.iloc[:, 0], frame[column]), start=2):
        marker = marker.strip()
        value = _scimap_gate(text.replace(",", ".") if dialect["decimal"] == "," else text)
        if not marker:
            problems.append(f"line {row}: no marker name")
        elif marker in gates:
            problems.append(f"line {row}: {marker} is listed twice")
        elif value is None:
            problems.append(f"line {row}: {marker}: gate {text!r} is not a log1p intensity from 0 to 700")
        else:
            raw = float(np.expm1(value))
            gates[marker] = MarkerGate(
                marker,
                (raw, raw, math.inf),
                compartment=compartment,
                transform="log1p",
                source="scimap",
                set_at=now_iso(),
            )
    if problems:
        raise GateError(problems, path)
    if not gates:
        raise GateError(["no gates: the CSV has a header but no marker rows"], path)
    return gates


def _scimap_gate(text: str) -> float | None:
    """The gate as a number, or None when it is not a finite log1p value with a finite expm1."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not 0 <= value < 700:  # expm1 overflows a float64 just above 709
        return None
    return value
