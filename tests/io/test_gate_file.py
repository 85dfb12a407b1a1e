"""Gate files round-trip, report every problem, and interoperate with scimap."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from napari_ifcell.core.gating import GateError, GateSet, MarkerGate
from napari_ifcell.core.gating.phenotypes import DEFAULT_PHENOTYPES
from napari_ifcell.io.gate_file import export_scimap_gates, import_scimap_gates, load_gates, save_gates

MARKERS = ["CD45", "CD3e", "CD4", "CD8a", "FOXP3", "CD20", "CD68", "CD163"]


def _gateset():
    gates = {
        m: MarkerGate(
            m, (100.0 + i, 200.0 + i, math.inf if i % 2 else 9000.0), source="auto", set_at="2026-01-01T00:00:00+00:00"
        )
        for i, m in enumerate(MARKERS)
    }
    gates["FOXP3"] = MarkerGate("FOXP3", (50.0, 80.0, 4000.0), compartment="nucleus", transform="log1p")
    return GateSet(gates=gates, slide="slide-01")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, suffix):
    original = _gateset()
    path = save_gates(original, tmp_path / f"gates{suffix}")
    loaded = load_gates(path)
    assert loaded.gates == original.gates
    assert loaded.hierarchy == original.hierarchy and loaded.slide == "slide-01"
    assert [r.name for r in loaded.phenotypes] == [r.name for r in DEFAULT_PHENOTYPES]
    assert not list(tmp_path.glob(".*partial"))


def test_file_errors_name_the_file_and_every_problem(tmp_path):
    doc = {
        "schema_version": 1,
        "gates": {
            "CD3e": {"thresholds": [300, 100, 50]},
            "CD4": {"thresholds": "high", "colour": "red"},
            "CD8a": {"thresholds": [1, 2, 3], "transform": "log10"},
        },
        "hierarchy": {"CD4": "CD3e"},
        "phenotypes": [{"name": "T", "pos": ["CD3e", "CD5"]}],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GateError) as info:
        load_gates(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    for expected in (
        "CD3e: thresholds out of order",
        "CD4: unknown field(s) colour",
        "CD4: thresholds must be a list",
        "CD8a: unknown transform 'log10'",
        "hierarchy CD4 -> CD3e: no gate for CD4",
        "no gate for CD5",
    ):
        assert expected in text, expected


def test_a_gate_file_written_by_hand_with_gates_alone_gets_the_rules_its_markers_allow(tmp_path, small_table):
    """Gates alone (no hierarchy, no phenotypes) asked for a gate on every Orion marker (17
    problems for two gates); they get the default rules fitted to what they gate, as a scimap
    gate file does, on the panel's own names."""
    from napari_ifcell.core.gating import gated_table
    from napari_ifcell.notes import recording_notes

    table = small_table.rename(columns=lambda c: c.replace("CD3e_", "CD3_").replace("CD8a_", "CD8_"))
    cd3, cd8 = table["CD3_cell_mean"], table["CD8_cell_mean"]
    t3, t8 = (np.quantile(v, [0.6, 0.7]).round(1).tolist() for v in (cd3, cd8))
    path = tmp_path / "hand.yaml"
    path.write_text(
        f"schema_version: 1\ngates:\n  CD3:\n    thresholds: [{t3[0]}, {t3[1]}, null]\n"
        f"  CD8:\n    thresholds: [{t8[0]}, {t8[1]}, null]\n"
    )
    with recording_notes() as notes:
        gates = load_gates(path, columns=table.columns)
    assert set(gates.gates) == {"CD3", "CD8"} and gates.hierarchy == {"CD8": "CD3"}
    assert "CD8 T" in [r.name for r in gates.phenotypes] and "B cell" not in [r.name for r in gates.phenotypes]
    assert any("CD3 for CD3e" in n for n in notes) and any("hand.yaml has no gate for" in n for n in notes)
    called = gated_table(table, gates)["phenotype"]
    assert (called == "CD8 T").sum() == ((cd3 >= t3[1]) & (cd8 >= t8[1])).sum() > 0
    # rules given without a hierarchy: the default hierarchy fitted, no note about rules not used
    path.write_text(path.read_text() + "phenotypes: [{name: CD8 T, pos: [CD3, CD8]}]\n")
    with recording_notes() as notes:
        gates = load_gates(path)
    assert gates.hierarchy == {"CD8": "CD3"} and [r.name for r in gates.phenotypes] == ["CD8 T"]
    assert not any(n.startswith("phenotype") for n in notes) and any("CD3 for CD3e" in n for n in notes)
    path.write_text(path.read_text().rsplit("phenotypes:", 1)[0])
    # a file that gives its own rules keeps them, and one that gives them empty has none
    path.write_text(path.read_text() + "hierarchy: {}\nphenotypes: []\n")
    assert load_gates(path).hierarchy == {} and load_gates(path).phenotypes == []


def test_wrong_schema_version_and_garbage(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("schema_version: 7\ngates: {}\nhierarchy: {}\nphenotypes: [{name: x, pos: [A]}]\n")
    with pytest.raises(GateError, match="schema_version is 7"):
        load_gates(path)
    path.write_text("{not: [valid")
    with pytest.raises(GateError, match="not valid YAML"):
        load_gates(path)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_gate_given_twice_is_refused_not_silently_replaced(tmp_path, suffix):
    """A gate copied lower down and edited: YAML and JSON keep the last one without a word."""
    good = save_gates(_gateset(), tmp_path / f"gates{suffix}").read_text()
    if suffix == ".yaml":
        first = good.index("  CD3e:")
        block = good[first : good.index("\n  CD4:", first) + 1]
        twice = good.replace(block, block + block.replace("201.0", "250.0"), 1)
    else:
        doc = json.loads(good)
        entries = [f'"{m}": {json.dumps(g)}' for m, g in doc["gates"].items()]
        entries.append(f'"CD3e": {json.dumps({**doc["gates"]["CD3e"], "thresholds": [101.0, 250.0, None]})}')
        twice = json.dumps({**doc, "gates": "@"}).replace('"@"', "{" + ", ".join(entries) + "}")
    path = tmp_path / f"twice{suffix}"
    path.write_text(twice)
    with pytest.raises(GateError, match="'CD3e' is given twice") as info:
        load_gates(path)
    assert str(info.value).startswith(f"{path}: ")


def test_unknown_marker_in_the_table(tmp_path):
    path = save_gates(_gateset(), tmp_path / "g.yaml")
    with pytest.raises(GateError, match="CD20: unknown marker, no column 'CD20_cell_mean'"):
        load_gates(path, columns=[f"{m}_cell_mean" for m in MARKERS if m != "CD20"] + ["FOXP3_nucleus_mean"])


def test_scimap_csv_round_trip(tmp_path):
    gateset = _gateset()
    path = export_scimap_gates(gateset, tmp_path / "manual_gates.csv", image_id="slide-01")
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["markers", "slide-01"]
    assert frame.set_index("markers").loc["CD3e", "slide-01"] == pytest.approx(np.log1p(201.0))
    imported = import_scimap_gates(path)
    assert imported["CD3e"].thresholds[:2] == pytest.approx((201.0, 201.0))
    assert imported["CD3e"].thresholds[2] == math.inf and imported["CD3e"].source == "scimap"
    # a scimap gate splits negative from positive at the same place
    values = np.array([200.0, 201.01, 202.0])
    assert imported["CD3e"].states(values).tolist() == [0, 2, 2]


def test_a_scimap_csv_saved_by_a_european_spreadsheet(tmp_path):
    """Semicolons and decimal commas: the markers and the gates were one column, refused."""
    path = export_scimap_gates(_gateset(), tmp_path / "manual_gates.csv", image_id="slide-01")
    frame = pd.read_csv(path)
    path.write_text(frame.to_csv(index=False, sep=";", decimal=","), encoding="utf-8-sig")
    assert ";5," in path.read_text()
    assert import_scimap_gates(path)["CD3e"].thresholds[:2] == pytest.approx((201.0, 201.0))


def test_the_gate_command_saves_a_scimap_csv(small_table, tmp_path, capsys):
    """The walk: ``gate --save-gates manual_gates.csv`` was refused ("use .yaml or .json") though
    ``--scimap-gates`` reads that very file; it is written for the table's image, and said to
    keep only the positive thresholds."""
    from napari_ifcell.cli import main

    small_table.assign(imageid="slide-07").to_parquet(tmp_path / "cells.parquet", index=False)
    given = ["gate", str(tmp_path / "cells.parquet")]
    assert main([*given, "--save-gates", str(tmp_path / "gates.yaml"), "--save-gates", str(tmp_path / "m.csv")]) == 0
    assert "m.csv: a scimap gate file holds one gate per marker (the positive threshold)" in capsys.readouterr().err
    frame = pd.read_csv(tmp_path / "m.csv").set_index("markers")
    saved = load_gates(tmp_path / "gates.yaml")
    assert list(frame.columns) == ["slide-07"] and set(frame.index) == set(saved.gates)
    assert frame["slide-07"].to_numpy() == pytest.approx([np.log1p(saved.gates[m].thresholds[1]) for m in frame.index])
    assert main([*given, "--scimap-gates", str(tmp_path / "m.csv")]) == 0  # and read back
    # the option before the table, and a file of no gate format refused before any is written
    assert main(["gate", "--save-gates", str(tmp_path / "before.yaml"), str(tmp_path / "cells.parquet")]) == 0
    out = [str(tmp_path / "a.yaml"), str(tmp_path / "b.txt")]
    assert main([*given, "--save-gates", out[0], "--save-gates", out[1], "--out", str(tmp_path / "g.parquet")]) == 2
    assert "--save-gates " + out[1] + ": expected a .yaml / .yml / .json / .csv file" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("a.yaml", "b.txt", "g.parquet"))
    assert (tmp_path / "before.yaml").is_file()


def test_scimap_csv_with_a_missing_image_column(tmp_path):
    path = tmp_path / "manual_gates.csv"
    pd.DataFrame({"markers": ["CD3e"], "imageA": [6.5]}).to_csv(path, index=False)
    with pytest.raises(GateError, match="no column 'imageB'"):
        import_scimap_gates(path, image_id="imageB")


def test_a_scimap_csv_loads_as_a_gate_file_and_names_itself_on_unknown_markers(tmp_path):
    path = tmp_path / "manual_gates.csv"
    pd.DataFrame({"markers": ["CD3e", "CD999"], "imageA": [6.5, 2.0]}).to_csv(path, index=False)
    columns = [f"{m}_cell_mean" for m in MARKERS]
    with pytest.raises(GateError, match=r"manual_gates.csv.*\n.*CD999: unknown marker"):
        load_gates(path, columns=columns)
    path.write_text("markers,imageA\nCD3e,6.5\n")
    assert load_gates(path, columns=columns).gates["CD3e"].thresholds[1] == pytest.approx(np.expm1(6.5))


def test_a_scimap_csv_for_several_images_says_which_column_it_used(tmp_path):
    path = tmp_path / "manual_gates.csv"
    pd.DataFrame({"markers": ["CD3e"], "imageA": [6.5], "imageB": [2.0]}).to_csv(path, index=False)
    with pytest.warns(UserWarning, match=r"manual_gates\.csv: gates for 2 images; using the first, 'imageA'"):
        gates = import_scimap_gates(path)
    assert gates["CD3e"].thresholds[1] == pytest.approx(np.expm1(6.5))
    assert import_scimap_gates(path, image_id="imageB")["CD3e"].thresholds[1] == pytest.approx(np.expm1(2.0))
