"""``run --slides``: a cohort's slide list, read as a user saves it from a spreadsheet."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from napari_ifcell.cli import main
from napari_ifcell.pipeline.cohort import read_slide_list


@pytest.fixture
def cohort(tmp_path):
    """Slide files beside the list, in a folder other than where the command runs."""
    folder = tmp_path / "cohort"
    (folder / "slides").mkdir(parents=True)
    for name in ("a.ome.tif", "a_he.ome.tif", "b_he.tif"):
        (folder / "slides" / name).write_bytes(b"")
    return folder


def test_paths_are_read_from_the_lists_folder_and_semicolons_separate_too(cohort, tmp_path, monkeypatch):
    (cohort / "list.csv").write_text(
        "if_path;he_path;out_dir\nslides/a.ome.tif; slides/a_he.ome.tif;\n;slides/b_he.tif;b_out\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)  # not the list's folder
    first, second = read_slide_list("cohort/list.csv", "results")
    assert first == (
        cohort / "slides" / "a.ome.tif",
        cohort / "slides" / "a_he.ome.tif",
        tmp_path / "results" / "a",
        False,
    )
    assert second.slide == cohort / "slides" / "b_he.tif" and second.he is None and second.he_alone
    assert second.out_dir == tmp_path / "results" / "b_out"


def test_every_missing_slide_is_named_before_any_work(cohort):
    (cohort / "list.csv").write_text("if_path,he_path\nslides/a.ome.tif,slides/gone_he.tif\nnot_here.tif,\n")
    with pytest.raises(FileNotFoundError) as error:
        read_slide_list(cohort / "list.csv", "out")
    message = str(error.value)
    assert "list.csv: 2 slide(s) not found (paths read from its folder): line 2: he_path slides/gone_he.tif" in message
    assert "line 3: if_path not_here.tif" in message


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "slide,stain\na.tif,he\n",
            "needs an if_path and/or he_path column (and optionally out_dir); its columns are slide, stain",
        ),
        ("if_path,he_path\n", "lists no slides (a header only)"),
        ("if_path,he_path\n,\n", "line 2 has neither if_path nor he_path"),
        ("if_path\nslides/a.ome.tif\nslides/a.ome.tif\n", "two slides would write into"),
    ],
)
def test_a_list_that_cannot_be_run_is_refused_with_the_reason(cohort, text, expected):
    (cohort / "list.csv").write_text(text)
    with pytest.raises(
        (ValueError, FileNotFoundError), match="list.csv: " + expected.replace("(", r"\(").replace(")", r"\)")
    ):
        read_slide_list(cohort / "list.csv", "out")


def test_run_takes_a_cohort_list_from_another_folder(small_pair, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "cohort"
    folder.mkdir()
    shutil.copy(small_pair.if_path, folder / "one.ome.tif")
    (folder / "list.csv").write_text("if_path;out_dir\none.ome.tif;first\n")
    (tmp_path / "run.yaml").write_text("segmentation: {tile: 256}\n")
    monkeypatch.chdir(tmp_path)
    argv = ["run", "run.yaml", "--slides", "cohort/list.csv", "--out", "results", "--in-process"]
    assert main([*argv, "--region", "0", "0", "300", "400"]) == 0, capsys.readouterr().err
    cells = pd.read_parquet(tmp_path / "results" / "first" / "cells.parquet")
    truth = pd.read_csv(small_pair.cells_path)
    inside = truth[(truth.Y_centroid < 300) & (truth.X_centroid < 400)]
    assert 0.8 * len(inside) <= len(cells) <= 1.2 * len(inside)
    assert "one.ome.tif: " in capsys.readouterr().out


def test_a_run_where_earlier_versions_put_out_dir_is_not_restarted_elsewhere(cohort, tmp_path, monkeypatch):
    """A relative out_dir was read from the working folder; it now lies under --out. A list
    written for the old rule would restart each slide from scratch in a new folder, unseen."""
    (cohort / "list.csv").write_text("if_path,out_dir\nslides/a.ome.tif,results/a\nslides/a_he.ome.tif,NA\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "a").mkdir(parents=True)
    (tmp_path / "results" / "a" / "run.json").write_text("{}")
    with pytest.raises(ValueError, match=r"line 2: out_dir results/a is now read under --out"):
        read_slide_list(cohort / "list.csv", "results")
    (tmp_path / "results" / "a" / "run.json").unlink()
    first, second = read_slide_list(cohort / "list.csv", "results")
    assert first.out_dir == tmp_path / "results" / "results" / "a"
    assert second.out_dir == tmp_path / "results" / "NA"  # a folder named NA, not an empty cell
