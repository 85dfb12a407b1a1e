"""The command line, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import tifffile

from napari_ifcell.orion import ORION_CHANNELS


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "napari_ifcell.cli", *map(str, args)], capture_output=True, text=True)


def test_info_lists_levels_channels_and_pixel_size(small_pair):
    done = run_cli("info", small_pair.if_path)
    assert done.returncode == 0, done.stderr
    assert "pixel size: 0.325 µm/px" in done.stdout
    assert "channels (19): Hoechst, AF1, CD31" in done.stdout
    assert "level 0: 1100 x 1400" in done.stdout and "level 3: 138 x 175" in done.stdout


def test_info_json_and_pixel_size_override(small_pair):
    done = run_cli("info", small_pair.he_path, "--json", "--pixel-size", "0.325")
    info = json.loads(done.stdout)
    assert info["kind"] == "rgb" and info["pixel_size_um"] == 0.325 and len(info["levels"]) == 4


def test_info_on_a_bad_file_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "scan.svs"
    bad.write_bytes(b"\x00" * 100)
    done = run_cli("info", bad)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "scan.svs" in lines[0] and "Traceback" not in done.stderr


def test_synth_writes_a_pair_of_the_requested_size(tmp_path):
    done = run_cli("synth", tmp_path / "pair", "--size", "320", "448", "--seed", "11", "--tile", "128", "--he-planar")
    assert done.returncode == 0, done.stderr
    with tifffile.TiffFile(tmp_path / "pair" / "synthetic_if.ome.tif") as tif:
        assert tif.series[0].shape == (len(ORION_CHANNELS), 320, 448)
    with tifffile.TiffFile(tmp_path / "pair" / "synthetic_he.ome.tif") as tif:
        assert tif.series[0].shape == (3, 320, 448)  # planar, as some Orion readers see it
    cells = pd.read_csv(tmp_path / "pair" / "synthetic_cells.csv")
    assert f"{len(cells)} cells" in done.stdout


def test_synth_difficulty_picks_the_world(tmp_path):
    from napari_ifcell.synth import make_synthetic_pair

    for difficulty in ("easy", "realistic"):
        done = run_cli(
            "synth", tmp_path / difficulty, "--size", "256", "256", "--seed", "4", "--difficulty", difficulty
        )
        assert done.returncode == 0, done.stderr
    easy = make_synthetic_pair(tmp_path / "api", shape=(256, 256), seed=4, difficulty="easy")
    written = {d: tifffile.imread(tmp_path / d / "synthetic_if.ome.tif") for d in ("easy", "realistic")}
    assert np.array_equal(written["easy"], tifffile.imread(easy.if_path))  # the API's easy world
    assert not np.array_equal(written["easy"], written["realistic"])
    bad = run_cli("synth", tmp_path / "x", "--difficulty", "hard")
    assert bad.returncode == 2 and "invalid choice: 'hard'" in bad.stderr


def test_quantify_then_gate(small_pair, tmp_path):
    table_path = tmp_path / "cells.parquet"
    done = run_cli(
        "quantify",
        small_pair.if_path,
        small_pair.labels_path,
        "--out",
        table_path,
        tmp_path / "cells.h5ad",
        "--region",
        0,
        0,
        600,
        700,
        "--tile",
        256,
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(table_path)
    truth = pd.read_csv(small_pair.cells_path)
    inside = truth[(truth.Y_centroid < 600) & (truth.X_centroid < 700)]
    assert sorted(table["CellID"]) == sorted(inside["CellID"])
    assert (tmp_path / "cells.h5ad").is_file()

    done = run_cli("gate", table_path, "--out", tmp_path / "gated.csv", "--save-gates", tmp_path / "gates.yaml")
    assert done.returncode == 0, done.stderr
    gated = pd.read_csv(tmp_path / "gated.csv")
    assert {"phenotype", "CD3e_state", "inconsistent"} <= set(gated.columns)
    assert "B cell\t" in done.stdout and "suggested" in done.stderr
    # the saved gates give the same answer when applied again
    again = run_cli("gate", table_path, "--gates", tmp_path / "gates.yaml")
    assert again.stdout == done.stdout
    # the AnnData quantify wrote beside it gates alike
    from_h5ad = run_cli("gate", tmp_path / "cells.h5ad", "--gates", tmp_path / "gates.yaml")
    assert from_h5ad.returncode == 0, from_h5ad.stderr
    assert from_h5ad.stdout == done.stdout

    # the same cells as MCMICRO's mcquant writes them (bare marker columns of cell means) gate alike
    markers = [c[: -len("_cell_mean")] for c in table.columns if c.endswith("_cell_mean")]
    morphology = ["Area", "MajorAxisLength", "MinorAxisLength", "Eccentricity", "Solidity", "Extent", "Orientation"]
    mcquant = table[["CellID", *markers, "X_centroid", "Y_centroid", *morphology]]
    mcquant.assign(leiden=1).to_csv(tmp_path / "mcquant.csv")  # with pandas' index and a cluster column: not markers
    from_mcquant = run_cli("gate", tmp_path / "mcquant.csv", "--out", tmp_path / "mc_gated.csv")
    assert from_mcquant.returncode == 0, from_mcquant.stderr
    assert "MCMICRO columns gated as each marker's cell mean: " + ", ".join(markers) in from_mcquant.stderr
    from napari_ifcell.orion import NUCLEAR_MARKERS  # gated on their nucleus means in ours; mcquant's has none

    same = [m for m in markers if m not in NUCLEAR_MARKERS]
    assert len(same) >= 15
    mc_gated = pd.read_csv(tmp_path / "mc_gated.csv")
    for m in same:
        assert (mc_gated[f"{m}_state"] == gated[f"{m}_state"]).all(), m
    assert (mc_gated["phenotype"] == gated["phenotype"]).all()


def test_gate_refuses_a_table_without_marker_columns(tmp_path):
    """It failed with pandas' "Length of values (0) does not match length of index"."""
    table_path = tmp_path / "cells.csv"
    pd.DataFrame({"CellID": [1, 2], "X_centroid": [1.0, 2.0], "Y_centroid": [1.0, 2.0], "Area": [30, 40]}).to_csv(
        table_path, index=False
    )
    done = run_cli("gate", table_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"{table_path}: no marker column to gate" in done.stderr


def test_cells_without_a_value_are_gated_uncertain_and_said(small_table, tmp_path, capsys):
    """A cell over pixels without data has NaN means: uncertain for that marker, with a note."""
    from napari_ifcell.cli import main

    table = small_table.copy()
    table.loc[table.index[:7], "CD20_cell_mean"] = np.nan
    table.to_parquet(tmp_path / "holed.parquet")
    assert main(["gate", str(tmp_path / "holed.parquet"), "--out", str(tmp_path / "gated.csv")]) == 0
    err = capsys.readouterr().err
    assert "holed.parquet: cells without a value (NaN) in a gated column (CD20_cell_mean 7) are uncertain" in err
    states = pd.read_csv(tmp_path / "gated.csv")["CD20_state"]
    assert (states[:7] == "uncertain").all() and (states[7:] != "uncertain").mean() > 0.9


def test_gate_with_a_bad_gate_file_exits_2(small_pair, tmp_path):
    table_path = tmp_path / "cells.csv"
    pd.DataFrame({"CellID": [1], "X_centroid": [1.0], "Y_centroid": [1.0], "CD3e_cell_mean": [5.0]}).to_csv(
        table_path, index=False
    )
    gates = tmp_path / "gates.yaml"
    gates.write_text(
        "schema_version: 1\ngates: {CD3e: {thresholds: [3, 2, 1]}, CD99: {thresholds: [1, 2, 3]}}\nhierarchy: {}\nphenotypes: []\n"
    )
    done = run_cli("gate", table_path, "--gates", gates)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "CD3e: thresholds out of order" in done.stderr and "CD99: unknown marker" in done.stderr


def test_segment_then_quantify_from_the_store(small_pair, tmp_path):
    store = tmp_path / "store"
    done = run_cli("segment", small_pair.if_path, "--region", 0, 0, 512, 640, "--store", store)
    assert done.returncode == 0, done.stderr
    assert " cells in " in done.stdout and (store / "labels.zarr").is_dir()
    index = pd.read_parquet(store / "cell_index.parquet")
    assert len(index) > 20 and index.Y_centroid.max() < 512
    again = run_cli("segment", small_pair.if_path, "--region", 0, 0, 512, 640, "--store", store)
    assert f"{len(index)} replaced" in again.stdout or "replaced" in again.stdout
    assert pd.read_parquet(store / "cell_index.parquet").CellID.min() > index.CellID.max()  # new ids
    done = run_cli("quantify", small_pair.if_path, store, "--out", tmp_path / "cells.csv")
    assert done.returncode == 0, done.stderr
    # stderr into a file (no terminal): progress as whole lines, each tenth once, ending with the total
    progress = [line for line in done.stderr.split("\n") if line.startswith("quantify: ")]
    assert "\r" not in done.stderr and 2 <= len(progress) <= 12, done.stderr
    done_of = progress[-1].removeprefix("quantify: ").split("/")
    assert done_of[0] == done_of[1]
    assert sorted(pd.read_csv(tmp_path / "cells.csv").CellID) == sorted(
        pd.read_parquet(store / "cell_index.parquet").CellID
    )


def test_segment_with_sam_needs_a_checkpoint(small_pair, tmp_path):
    done = run_cli(
        "segment", small_pair.if_path, "--he", small_pair.he_path, "--backend", "sam", "--store", tmp_path / "s"
    )
    assert done.returncode == 2 and "--checkpoint" in done.stderr and "Traceback" not in done.stderr
    done = run_cli(
        "segment",
        small_pair.if_path,
        "--he",
        small_pair.he_path,
        "--backend",
        "sam",
        "--checkpoint",
        tmp_path / "none.pth",
        "--store",
        tmp_path / "s",
    )
    assert done.returncode == 2 and "none.pth: no such checkpoint file" in done.stderr


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "napari_ifcell", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "segment" in done.stdout and "quantify" in done.stdout


def test_usage_errors_are_one_line_that_points_to_help():
    """argparse printed the whole usage block before its error: many lines for a missing file name."""
    for argv, needle in (
        (["segment"], "napari-ifcell segment: error: the following arguments are required: if_slide"),
        (["segmnt"], "napari-ifcell: error: argument command: invalid choice: 'segmnt'"),
        (["demo", "--size", "0", "5"], "napari-ifcell demo: error: argument --size"),
    ):
        done = run_cli(*argv)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(needle) and done.stderr.rstrip().endswith("--help)"), done.stderr
    top = run_cli("--help").stdout
    assert all(name in top.replace("\n", " ") for name in ("evaluate-segmentation", "review-agreement"))
