"""Every CLI command given junk where it expects an input file (random bytes, an empty file, a
folder, a file that is not there): exit 2 and one line that names the file; never a traceback,
never exit 0."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.cli import main

from .test_hostile_inputs import one_error_line

JUNK = ("random", "empty", "folder", "missing")
REGION = ["--region", "r", "0", "0", "9", "9"]  # compare's one small region


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
        lambda f, s, t, o: ["compare", t, "--ours", f, "--pixel-size", "0.5", *REGION],
    ),
    "compare --model": (
        ".json",
        lambda f, s, t, o: ["compare", t, "--model", f"x={f}", "--pixel-size", "0.5", *REGION],
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


# command -> argv with an output of no format that command writes, after outputs it can write
WRONG_FORMAT = {
    "quantify": lambda s, t, o: ["quantify", s, s, "--out", o / "q.parquet", o / "q.xlsx"],
    "gate --out": lambda s, t, o: ["gate", t, "--save-gates", o / "g.yaml", "--out", o / "gated.xlsx"],
    "gate --save-gates": lambda s, t, o: ["gate", t, "--out", o / "gated.csv", "--save-gates", o / "g.txt"],
    "evaluate-segmentation": lambda s, t, o: ["evaluate-segmentation", s, s, "--out", o / "scores.txt"],
    "predict": lambda s, t, o: ["predict", t, "--he", s, "--model", o, "--out", o / "p.csv", o / "p.xlsx"],
    "evaluate": lambda s, t, o: ["evaluate", t, "--model", o, "--out", o / "metrics.xlsx"],
    "review-export": lambda s, t, o: ["review-export", o, "--out", o / "r.csv", o / "r.xlsx"],
    "review-agreement": lambda s, t, o: ["review-agreement", o, "--out", o / "agreement"],
}


@pytest.mark.parametrize("command", WRONG_FORMAT)
def test_an_output_of_no_format_the_command_writes_is_refused_before_any_is_written(command, good, tmp_path, capsys):
    """``gate --save-gates g.yaml --out gated.xlsx`` wrote g.yaml, then refused gated.xlsx; a CSV
    command wrote CSV into ``metrics.xlsx``, and ``review-agreement --out agreement`` wrote two
    files of no suffix. Every output's suffix is checked before any work."""
    out = tmp_path / "out"
    out.mkdir()
    argv = [str(a) for a in WRONG_FORMAT[command](good / "if.ome.tif", good / "cells.parquet", out)]
    assert main(argv) == 2
    message = one_error_line(capsys)
    wrong = next(a for a in reversed(argv) if Path(a).parent == out and Path(a).suffix in ("", ".xlsx", ".txt"))
    option = argv[argv.index(wrong) - 1] if argv[argv.index(wrong) - 1].startswith("--") else "--out"
    assert f"{option} {wrong}: expected a " in message, message
    assert list(out.iterdir()) == []  # nothing written, not even the outputs before it


@pytest.mark.parametrize(
    "command",
    [
        lambda s, t, o: ["gate", t, "--out", o / "gated.csv"],
        lambda s, t, o: ["export", t, "--if", s, "--out", o / "cells.h5ad"],
        lambda s, t, o: ["compare", t, "--ours", t, "--pixel-size", "0.5", *REGION],
    ],
    ids=["gate", "export", "compare"],
)
def test_a_table_of_no_cells_is_refused_not_reported_as_zero_cells(command, good, tmp_path, capsys):
    """A header-only table (a quantify of the wrong region, a filter that kept nothing): 'other
    0' and exit 0 was a wrong result."""
    empty = tmp_path / "header_only.csv"
    pd.read_parquet(good / "cells.parquet").iloc[:0].to_csv(empty, index=False)
    assert main([str(a) for a in command(good / "if.ome.tif", empty, tmp_path)]) == 2
    message = one_error_line(capsys)
    assert str(empty) in message and "holds no cells" in message
    assert not list(tmp_path.glob("gated*")) and not list(tmp_path.glob("cells.h5ad"))


@pytest.mark.parametrize(
    "argv",
    [
        ["quantify", "if.ome.tif", "labels.tif", "--out", "q.csv", "--expand-um", "nan"],
        ["segment", "if.ome.tif", "--threshold", "inf"],
        ["segment", "if.ome.tif", "--he", "he.tif", "--he-offset-um", "nan", "0"],
        ["compare", "cells.parquet", "--ours", "cells.parquet", "--pixel-size", "nan", *REGION],
    ],
    ids=lambda argv: f"{argv[0]} {argv[-1] if argv[0] == 'quantify' else ''}".strip(),
)
def test_nan_or_infinity_for_a_number_is_refused_naming_the_option(argv, capsys):
    from napari_ifcell.cli import build_parser
    from napari_ifcell.cli.options import finite_float

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "expected a finite number" in one_error_line(capsys)
    commands = build_parser()._subparsers._group_actions[0].choices
    plain = [(name, a.dest) for name, sub in commands.items() for a in sub._actions if a.type is float]
    assert not plain  # every number option goes through finite_float
    assert sum(a.type is finite_float for sub in commands.values() for a in sub._actions) > 10


def test_outputs_in_folders_not_made_yet_are_written_there(good, tmp_path, capsys):
    """A folder named on the command line is made, not found missing after the computing."""
    labels = np.zeros((128, 128), np.int32)
    for k, (y, x) in enumerate(((y, x) for y in range(2, 120, 12) for x in range(2, 120, 12)), start=1):
        labels[y : y + 8, x : x + 8] = k
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    slide, new = good / "if.ome.tif", tmp_path / "new"
    steps = [
        ["quantify", slide, tmp_path / "labels.tif", "--out", new / "a" / "cells.parquet"],
        ["gate", new / "a" / "cells.parquet", "--out", new / "b" / "gated.csv"],
        ["export", new / "b" / "gated.csv", "--if", slide, "--out", new / "c" / "cells.h5ad"],
        ["pyramid", slide, new / "d" / "p.ome.tif"],
    ]
    for argv in steps:
        assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
        assert Path(argv[-1]).is_file()
    assert len(pd.read_csv(new / "b" / "gated.csv")) == 100


def test_ctrl_c_is_one_line_and_the_shells_status(good, monkeypatch, capsys):
    from napari_ifcell.cli import slides

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(slides, "_info", interrupted)
    assert main(["info", str(good / "if.ome.tif")]) == 130
    assert capsys.readouterr().err.strip() == "napari-ifcell info: interrupted (Ctrl-C)"
