"""Hostile inputs at the command line: each gives one line naming the file and what was
expected, exit 2, and no traceback; none runs away with memory or gives a silent result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.cli import main

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")
)  # 9^9 = 387 million strings once expanded, from 300 bytes


def one_error_line(capsys) -> str:
    """The error (one line, or one line and its list of problems); no traceback."""
    err = capsys.readouterr().err.strip().splitlines()
    first = next(i for i, line in enumerate(err) if "error:" in line)
    assert not any("Traceback" in line or "error:" in line for line in err[first + 1 :]), err
    return " ".join(err[first:])


@pytest.fixture(scope="module")
def table_file(small_table, tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "cells.parquet"
    small_table.to_parquet(path, index=False)
    return path


def test_a_yaml_alias_bomb_is_refused_before_it_expands(table_file, tmp_path, capsys):
    (tmp_path / "gates.yaml").write_text(BOMB)
    assert main(["gate", str(table_file), "--gates", str(tmp_path / "gates.yaml")]) == 2
    assert "aliases (*name) are not accepted" in one_error_line(capsys)
    (tmp_path / "run.yaml").write_text(BOMB)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "run.yaml"), "--if", str(table_file), "--out", str(out), "--in-process"]) == 2
    line = one_error_line(capsys)
    assert "run.yaml" in line and "aliases" in line


def test_labels_that_are_not_a_label_image_are_refused(small_pair, tmp_path, capsys):
    tifffile.imwrite(tmp_path / "float.tif", np.random.default_rng(0).random((1100, 1400), np.float32))
    out = str(tmp_path / "t.parquet")
    assert main(["quantify", str(small_pair.if_path), str(tmp_path / "float.tif"), "--out", out]) == 2
    line = one_error_line(capsys)
    assert "float.tif: expected a label image" in line and "float32" in line
    # the slide and the labels given the other way round: 19 channels are no label image
    assert main(["quantify", str(small_pair.labels_path), str(small_pair.if_path), "--out", out]) == 2
    assert "19 channels of uint16" in one_error_line(capsys)


def test_a_region_off_the_slide_is_refused_not_tiled(small_pair, tmp_path, capsys):
    args = ["segment", str(small_pair.if_path), "--store", str(tmp_path / "store")]
    assert main([*args, "--region", "100000", "100000", "5000", "5000"]) == 2
    line = one_error_line(capsys)
    assert "has no pixel on the slide (1100 x 1400 px)" in line
    labels = str(small_pair.labels_path)
    out = str(tmp_path / "t.parquet")
    assert main(["quantify", str(small_pair.if_path), labels, "--out", out, "--region", "0", "0", "0", "50"]) == 2
    assert "has no pixel on the slide" in one_error_line(capsys)


def test_an_output_folder_that_cannot_be_made_is_one_line(small_pair, tmp_path, capsys):
    """A missing output folder is made (tests/test_hostile_every_command.py); a file where the
    folder should be is an error naming it."""
    (tmp_path / "taken").write_text("a file, not a folder")
    out = tmp_path / "taken" / "such" / "t.parquet"
    args = ["quantify", str(small_pair.if_path), str(small_pair.labels_path), "--out", str(out)]
    assert main([*args, "--region", "750", "200", "300", "300"]) == 2
    line = one_error_line(capsys)
    assert f"{tmp_path / 'taken'} is a file, not a folder to write into" in line and not out.exists()


GATE_FILES = {
    "a list at the top": ("- 1\n- 2\n", "expected a mapping at the top level, got list"),
    "gates not a mapping": ("schema_version: 1\ngates: 7\n", "gates: expected a mapping of marker -> gate, got int"),
    "a gate outside 'gates'": ("schema_version: 1\nCD3e: 5\n", "unknown top-level field(s) CD3e"),
    "thresholds not numbers": (
        "schema_version: 1\ngates: {CD3e: {thresholds: [a, b, c]}}\n",
        "CD3e: thresholds must be numbers",
    ),
    "a number as compartment": (
        "schema_version: 1\ngates: {CD3e: {thresholds: [1, 2, null], compartment: 3}}\n",
        "CD3e.compartment: expected a string, got 3",
    ),
    "cofactor a string": (
        "schema_version: 1\ngates: {CD3e: {thresholds: [1, 2, null], cofactor: big}}\n",
        "CD3e.cofactor: expected a number, got 'big'",
    ),
    "phenotypes a mapping": ("schema_version: 1\ngates: {}\nphenotypes: {T: CD3e}\n", "phenotypes: expected a list"),
    "a rule's pos a number": (
        "schema_version: 1\ngates: {}\nphenotypes: [{name: T, pos: 5}]\n",
        "phenotypes[0].pos: expected a list of strings, got 5",
    ),
    "hierarchy a list": ("schema_version: 1\ngates: {}\nhierarchy: [CD4]\n", "hierarchy: expected a mapping"),
}


@pytest.mark.parametrize("case", GATE_FILES)
def test_a_gate_file_of_the_wrong_shape_is_one_line(case, table_file, tmp_path, capsys):
    text, expected = GATE_FILES[case]
    (tmp_path / "gates.yaml").write_text(text)
    assert main(["gate", str(table_file), "--gates", str(tmp_path / "gates.yaml")]) == 2
    line = one_error_line(capsys)
    assert "gates.yaml" in line and expected in line


SCIMAP_CSVS = {
    "a word for a gate": ("markers,img\nCD3e,abc\n", "line 2: CD3e: gate 'abc' is not a log1p intensity"),
    "true for a gate": ("markers,img\nCD3e,True\n", "gate 'True' is not a log1p intensity"),
    "a negative gate": ("markers,img\nCD3e,-1.5\n", "gate '-1.5' is not a log1p intensity from 0 to 700"),
    "a gate past float range": ("markers,img\nCD3e,800\n", "gate '800' is not a log1p intensity"),
    "an empty gate": ("markers,img\nCD3e,\n", "gate '' is not a log1p intensity"),
    "a marker twice": ("markers,img\nCD3e,5\nCD3e,6\n", "line 3: CD3e is listed twice"),
    "no marker name": ("markers,img\n,5\n", "line 2: no marker name"),
    "a header only": ("markers,img\n", "the CSV has a header but no marker rows"),
    "one column": ("markers\nCD3e\n", "expected a markers column and at least one image column"),
    "not text": ("\xff\xfe\x00junk", "cannot read the CSV"),
}


@pytest.mark.parametrize("case", SCIMAP_CSVS)
def test_a_scimap_csv_of_the_wrong_shape_is_one_line(case, table_file, tmp_path, capsys):
    text, expected = SCIMAP_CSVS[case]
    (tmp_path / "manual_gates.csv").write_bytes(text.encode("latin-1"))
    assert main(["gate", str(table_file), "--scimap-gates", str(tmp_path / "manual_gates.csv")]) == 2
    line = one_error_line(capsys)
    assert "manual_gates.csv" in line and expected in line


RUN_SETTINGS = {
    "segmentation a number": ("segmentation: 5\n", "segmentation: expected a mapping, got int"),
    "tile a word": ("segmentation: {tile: abc}\n", "segmentation.tile: expected an integer, got 'abc'"),
    "halo a boolean": ("segmentation: {halo: true}\n", "segmentation.halo: expected an integer, got True"),
    "watershed a list": ("segmentation: {watershed: [1]}\n", "segmentation.watershed: expected a mapping, got list"),
    "sigma a word": (
        "segmentation: {watershed: {sigma_um: wide}}\n",
        "segmentation.watershed.sigma_um: expected a number",
    ),
    "statistics a number": (
        "quantification: {statistics: 3}\n",
        "quantification.statistics: expected a list of strings",
    ),
    "expand a word": ("quantification: {expand_um: far}\n", "quantification.expand_um: expected a number, got 'far'"),
    "sigma not a number": (
        "segmentation: {watershed: {sigma_um: .nan}}\n",
        "segmentation.watershed.sigma_um: expected finite numbers (not nan or inf), got nan",
    ),
    "expand of 400 digits": (
        f"quantification: {{expand_um: {'9' * 400}}}\n",
        "quantification.expand_um: expected finite",
    ),
    "expand infinite": ("quantification: {expand_um: .inf}\n", "quantification.expand_um: expected finite numbers"),
    "JSON expand infinite": (
        '{"quantification": {"expand_um": Infinity}}',
        "quantification.expand_um: expected finite numbers (not nan or inf), got inf",
        "run.json",
    ),
    "JSON section twice": (
        '{"quantification": {"expand_um": 2}, "quantification": {"expand_um": 3}}',
        "'quantification' is given twice in one object",
        "run.json",
    ),
}


@pytest.mark.parametrize("case", RUN_SETTINGS)
def test_run_settings_of_the_wrong_type_are_refused_before_run_json(case, small_pair, tmp_path, capsys):
    text, expected, name = (*RUN_SETTINGS[case], "run.yaml")[:3]
    (tmp_path / name).write_text(text)
    out = tmp_path / "out"
    argv = ["run", str(tmp_path / name), "--if", str(small_pair.if_path), "--out", str(out), "--in-process"]
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert name in line and expected in line
    assert not (out / "run.json").exists()  # the folder still takes the corrected settings


CLASSIFIER_CONFIGS = {
    "not JSON": ("{patch_size: 64", "not readable JSON"),
    "a list": ("[1, 2]", "config: expected a mapping, got list"),
    "patch size a word": ('{"patch_size": "big"}', "config.patch_size: expected an integer, got 'big'"),
    "classes a string": ('{"classes": "T cell"}', "config.classes: expected a list of strings, got 'T cell'"),
    "an unknown field": ('{"layers": 3}', "config: unknown setting(s) layers"),
    "a bad value": ('{"um_per_px": -0.5}', "um_per_px must be > 0"),
}


@pytest.mark.parametrize("case", CLASSIFIER_CONFIGS)
def test_a_classifier_config_of_the_wrong_shape_is_one_line(case, table_file, tmp_path, capsys):
    text, expected = CLASSIFIER_CONFIGS[case]
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(text)
    assert main(["evaluate", str(table_file), "--model", str(tmp_path / "model")]) == 2
    line = one_error_line(capsys)
    assert "model/config.json" in line and expected in line


def _repeat_an_id(t):
    t.loc[1, "CellID"] = t.loc[0, "CellID"]


def _text_in_a_marker(t):
    t["CD3e_cell_mean"] = t["CD3e_cell_mean"].astype(str)  # Parquet keeps a column of one type
    t.loc[2, "CD3e_cell_mean"] = "abc"


def _nan_position(t):
    t.loc[4, "X_centroid"] = float("nan")


def _fractional_id(t):
    t["CellID"] = t["CellID"] + 0.5


CELL_TABLES = {
    "a repeated CellID": (_repeat_an_id, "CellID: 1 repeated id(s)"),
    "text in a marker column": (
        _text_in_a_marker,
        "CD3e_cell_mean: 1 value(s) are not numbers, the first in row 3 (counted from 1): 'abc'",
    ),
    "a cell without a position": (
        _nan_position,
        "X_centroid: every cell needs a finite position; row 5 (counted from 1) has nan",
    ),
    "fractional CellIDs": (_fractional_id, "CellID: expected whole numbers"),
}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("case", CELL_TABLES)
def test_a_cell_table_with_bad_rows_is_refused(case, suffix, small_table, tmp_path, capsys):
    spoil, expected = CELL_TABLES[case]
    table = small_table.copy()
    spoil(table)
    path = tmp_path / f"cells{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path, index=False)
    assert main(["gate", str(path), "--out", str(tmp_path / "gated.parquet")]) == 2
    line = one_error_line(capsys)
    assert f"cells{suffix}: 1 problem(s) in the cell table" in line and expected in line
    assert not (tmp_path / "gated.parquet").exists()


def test_suggested_gates_say_which_phenotypes_a_panel_cannot_call(small_table, tmp_path, capsys):
    """Without CD3e no T-cell rule can apply: the user is told, not given a table of 'other'."""
    path = tmp_path / "no_cd3e.parquet"
    small_table.drop(columns=[c for c in small_table.columns if c.startswith("CD3e_")]).to_parquet(path)
    assert main(["gate", str(path), "--out", str(tmp_path / "gated.parquet")]) == 0
    err = capsys.readouterr().err
    assert "note: phenotype(s) regulatory T, CD4 T, CD8 T left out" in err
    assert "the table has no CD3e column" in err
    assert "called with what this panel measures: B cell: CD3e- not tested (no gate); macrophage: CD3e- not" in err


def test_a_panel_without_cd4_still_calls_cd8_t_cells(small_table, tmp_path, capsys):
    """CD8 T is CD3e+ CD8a+ (and CD4- where CD4 is measured): a panel without CD4 calls it."""
    with_cd4 = tmp_path / "all.parquet"
    small_table.to_parquet(with_cd4)
    assert main(["gate", str(with_cd4)]) == 0
    full = dict(line.split("\t") for line in capsys.readouterr().out.strip().splitlines())
    path = tmp_path / "no_cd4.parquet"
    small_table.drop(columns=[c for c in small_table.columns if c.startswith("CD4_")]).to_parquet(path)
    assert main(["gate", str(path)]) == 0
    captured = capsys.readouterr()
    counts = dict(line.split("\t") for line in captured.out.strip().splitlines())
    assert "CD8 T: CD4- not tested (no gate)" in captured.err and "regulatory T, CD4 T left out" in captured.err
    assert int(full["CD8 T"]) >= 50 and int(full["CD8 T"]) <= int(counts["CD8 T"]) <= int(full["CD8 T"]) + 10


def test_a_scimap_csv_for_part_of_the_panel_gates_what_it_can_and_says_what_it_cannot(
    small_table, table_file, tmp_path, capsys
):
    """scimap users gate the markers they care about; the rules that need the others are named."""
    gate = {m: np.log1p(small_table[f"{m}_cell_mean"].quantile(0.8)) for m in ("CD45", "CD3e", "CD20")}
    rows = "".join(f"{m},{v}\n" for m, v in gate.items())
    (tmp_path / "manual_gates.csv").write_text("markers,img\n" + rows)
    out = tmp_path / "gated.parquet"
    assert main(["gate", str(table_file), "--scimap-gates", str(tmp_path / "manual_gates.csv"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "left out: manual_gates.csv has no gate for CD163, CD4, CD68, CD8a, FOXP3" in err
    phenotypes = set(pd.read_parquet(out)["phenotype"])
    assert {"B cell", "other"} <= phenotypes and not phenotypes & {"CD4 T", "CD8 T", "macrophage"}


def test_a_damaged_tile_is_one_line_without_zarrs_abandoned_reads(small_pair, tmp_path):
    """zarr's event loop left the reads it had started beside the failed one; at exit Python
    printed ~70 lines of "Task was destroyed but it is pending!" after the error."""
    import shutil

    from .test_cli import run_cli
    from .test_real_slides import one_line_error

    damaged = tmp_path / "damaged.ome.tif"
    shutil.copy(small_pair.if_path, damaged)
    with tifffile.TiffFile(damaged) as tif:
        page = tif.series[0].levels[0].pages[0]
        offset = page.dataoffsets[len(page.dataoffsets) // 2]
    with open(damaged, "r+b") as f:
        f.seek(offset + 20)
        f.write(b"\x00\xff" * 40)
    line = one_line_error(run_cli("quantify", damaged, small_pair.labels_path, "--out", tmp_path / "t.csv"))
    assert "damaged.ome.tif: cannot read level 0" in line


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["review-export", "{f}", "--out", "{o}"], "a file; expected the slide's project folder"),
        (["review-agreement", "{f}"], "a file; expected the slide's project folder"),
        (["train", "{f}", "--out", "{o}"], "a file; expected a data set folder written by export-dataset"),
    ],
)
def test_a_file_where_a_folder_is_expected_says_so(tmp_path, capsys, command, expected):
    """They said "NotADirectoryError: Not a directory: 'cells.parquet/review'"."""
    table = tmp_path / "cells.parquet"
    pd.DataFrame({"CellID": [1]}).to_parquet(table)
    args = [a.format(f=table, o=tmp_path / "out.csv") for a in command]
    assert main(args) == 2
    line = one_error_line(capsys)
    assert f"{table}: {expected}" in line, line


def test_a_synthetic_pair_of_no_size_or_odd_tiles_is_refused_and_leaves_no_file(tmp_path, capsys):
    """The walk: ``synth --size 0 0`` gave tifffile's "truncate can only be used with imagej or
    shaped formats" and left a half-written slide; a 10 x 10 px pair of 0 cells exited 0."""
    from napari_ifcell.synth import make_synthetic_pair

    out = tmp_path / "pair"
    for size, tile, expected in [
        ("0", "1024", "argument --size: expected 1 or more, got '0'"),
        ("64", "100", "argument --tile: expected a multiple of 16 px (TIFF tiles), got '100'"),
    ]:
        with pytest.raises(SystemExit) as exited:
            main(["synth", str(out), "--size", size, size, "--tile", tile])
        assert exited.value.code == 2 and expected in one_error_line(capsys)
    assert main(["synth", str(out), "--size", "10", "10"]) == 2
    assert "size: a 10 x 10 px slide holds no cell; give a larger size" in one_error_line(capsys)
    with pytest.raises(ValueError, match="tile: expected a multiple of 16 px"):
        make_synthetic_pair(out, shape=(64, 64), tile=100)
    assert not out.exists() or not any(out.iterdir())
