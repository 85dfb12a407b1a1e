"""Hostile inputs at the command line: each gives one line naming the file and what was
expected, exit 2, and no traceback; none runs away with memory or gives a silent result."""

from __future__ import annotations

import numpy as np
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
    assert "19 channel(s) of uint16" in one_error_line(capsys)


def test_a_region_off_the_slide_is_refused_not_tiled(small_pair, tmp_path, capsys):
    args = ["segment", str(small_pair.if_path), "--store", str(tmp_path / "store")]
    assert main([*args, "--region", "100000", "100000", "5000", "5000"]) == 2
    line = one_error_line(capsys)
    assert "has no pixel on the slide (1100 x 1400 px)" in line
    labels = str(small_pair.labels_path)
    out = str(tmp_path / "t.parquet")
    assert main(["quantify", str(small_pair.if_path), labels, "--out", out, "--region", "0", "0", "0", "50"]) == 2
    assert "has no pixel on the slide" in one_error_line(capsys)


def test_a_missing_output_folder_is_one_line(small_pair, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "t.parquet"
    args = ["quantify", str(small_pair.if_path), str(small_pair.labels_path), "--out", str(out)]
    assert main([*args, "--region", "0", "0", "200", "200"]) == 2
    assert "OSError" in one_error_line(capsys) and not out.exists()
