"""Every CLI command given junk where it expects an input file (random bytes, an empty file, a
folder, a file that is not there): exit 2 and one line that names the file; never a traceback,
never exit 0."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.cli import main

from .test_hostile_inputs import one_error_line

JUNK = ("random", "empty", "folder", "missing")


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A valid small IF slide and cell table, for the arguments a case does not make hostile."""
    folder = tmp_path_factory.mktemp("good")
    pixels = np.random.default_rng(0).integers(0, 999, (2, 128, 128), dtype=np.uint16)
    metadata = {"axes": "CYX", "Channel": {"Name": ["Hoechst", "CD3e"]}, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    tifffile.imwrite(folder / "if.ome.tif", pixels, ome=True, metadata=metadata)
    he = np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    tifffile.imwrite(folder / "he.tif", he, photometric="rgb", resolution=(2e4, 2e4), resolutionunit="CENTIMETER")
    table = {
        "CellID": [1, 2],
        "X_centroid": [5.0, 9.0],
        "Y_centroid": [5.0, 9.0],
        "CD3e_cell_mean": [1.0, 900.0],
        "predicted": ["CD4 T", "other"],
    }
    pd.DataFrame(table).to_parquet(folder / "cells.parquet")
    return folder


def _hostile(tmp_path, kind: str, suffix: str):
    path = tmp_path / f"hostile_{kind}{suffix}"
    if kind == "random":
        path.write_bytes(os.urandom(3000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
    return path


# command -> (suffix of the hostile file, argv from it, the good IF slide, cell table and output folder)
COMMANDS = {
    "info": (".tif", lambda f, s, t, o: ["info", f]),
    "pyramid": (".tif", lambda f, s, t, o: ["pyramid", f, o / "p.ome.tif"]),
    "segment": (".ome.tif", lambda f, s, t, o: ["segment", f, "--store", o / "s.ifcell"]),
    "segment --he": (".svs", lambda f, s, t, o: ["segment", s, "--he", f, "--store", o / "s.ifcell"]),
    "import-labels slide": (".tif", lambda f, s, t, o: ["import-labels", f, s, "--store", o / "s.ifcell"]),
    "import-labels labels": (".tif", lambda f, s, t, o: ["import-labels", s, f, "--store", o / "s.ifcell"]),
    "evaluate-segmentation": (".tif", lambda f, s, t, o: ["evaluate-segmentation", f, f]),
    "run settings": (".yaml", lambda f, s, t, o: ["run", f, "--if", s, "--out", o / "run", "--in-process"]),
    "run --if": (".tif", lambda f, s, t, o: ["run", _settings(o), "--if", f, "--out", o / "run", "--in-process"]),
    "quantify slide": (".tif", lambda f, s, t, o: ["quantify", f, f, "--out", o / "q.parquet"]),
    "quantify labels": (".tif", lambda f, s, t, o: ["quantify", s, f, "--out", o / "q.parquet"]),
    "gate table": (".parquet", lambda f, s, t, o: ["gate", f]),
    "gate --gates": (".yaml", lambda f, s, t, o: ["gate", t, "--gates", f]),
    "gate --scimap-gates": (".csv", lambda f, s, t, o: ["gate", t, "--scimap-gates", f]),
    "export-dataset": (
        ".parquet",
        lambda f, s, t, o: ["export-dataset", f, "--if", s, "--he", f, "--labels", f, "--out", o / "d"],
    ),
    "train": ("", lambda f, s, t, o: ["train", f, "--out", o / "model"]),
    "predict --model": ("", lambda f, s, t, o: ["predict", t, "--he", s.with_name("he.tif"), "--model", f]),
    "evaluate": (".parquet", lambda f, s, t, o: ["evaluate", f, "--model", f]),
    "compare --ours": (
        ".parquet",
        lambda f, s, t, o: ["compare", t, "--ours", f, "--pixel-size", "0.5", "--region", "r", "0", "0", "9", "9"],
    ),
    "compare --model": (
        ".json",
        lambda f, s, t, o: [
            "compare",
            t,
            "--model",
            f"x={f}",
            "--pixel-size",
            "0.5",
            "--region",
            "r",
            "0",
            "0",
            "9",
            "9",
        ],
    ),
    "compare --regions": (
        ".json",
        lambda f, s, t, o: ["compare", t, "--ours", t, "--regions", f, "--pixel-size", "0.5"],
    ),
    "export": (".tif", lambda f, s, t, o: ["export", "--he", f, "--out", o / "e.csv"]),
    "review-export": ("", lambda f, s, t, o: ["review-export", f, "--out", o / "r.csv"]),
    "review-agreement": ("", lambda f, s, t, o: ["review-agreement", f]),
}


def _settings(folder):
    path = folder / "run.yaml"
    path.write_text("segmentation: {tile: 128}\n")
    return path


@pytest.mark.parametrize("kind", JUNK)
@pytest.mark.parametrize("command", COMMANDS)
def test_junk_for_an_input_file_is_one_line_naming_it(command, kind, good, tmp_path, capsys):
    suffix, argv = COMMANDS[command]
    hostile = _hostile(tmp_path, kind, suffix)
    out = tmp_path / "out"
    out.mkdir()
    rc = main([str(a) for a in argv(hostile, good / "if.ome.tif", good / "cells.parquet", out)])
    if (command, kind) == ("run settings", "empty"):  # an empty YAML: the defaults, and said so
        assert rc == 0 and f"{hostile.name}: empty; every setting at its default" in capsys.readouterr().err
        return
    assert rc == 2, capsys.readouterr().err
    assert hostile.name in one_error_line(capsys)
