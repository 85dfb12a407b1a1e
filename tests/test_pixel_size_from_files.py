"""Pixel sizes as other writers leave them: no resolution tags, an image editor's 72 dpi, and a
label store that remembers the pixel size its cells were segmented at."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.io import open_slide

from .conftest import CROP_NUCLEI
from .test_cli import run_cli
from .test_real_slides import cells_of, one_line_error


def _pillow_tiff(path, planes) -> None:
    """Planes saved as Pillow saves them: one page each, no resolution tags at all."""
    from PIL import Image

    images = [Image.fromarray(np.ascontiguousarray(p)) for p in planes]
    images[0].save(path, save_all=True, append_images=images[1:])


def test_a_tiff_without_resolution_tags_has_an_unknown_pixel_size_not_25400_um(crops, tmp_path):
    path = tmp_path / "pillow.tif"
    _pillow_tiff(path, crops[:2])
    assert "XResolution" not in tifffile.TiffFile(path).pages[0].tags  # read as 1 pixel per inch
    done = run_cli("info", path)
    assert done.returncode == 0 and "pixel size: unknown (give --pixel-size)" in done.stdout, done.stdout
    one_line_error(run_cli("segment", path, "--nuclear-channel", "0"), "pillow.tif", "pixel size unknown")


def test_an_image_editors_72_dpi_is_not_taken_for_the_pixel_size(crops, tmp_path):
    path = tmp_path / "dpi72.tif"
    tifffile.imwrite(path, crops[0], resolution=(72, 72), resolutionunit="INCH")
    with pytest.warns(UserWarning, match=r"72 pixels per inch \(352.8 µm/px\), not a microscope's"):
        slide = open_slide(path)
    assert slide.pixel_size_um is None
    slide.close()
    tifffile.imwrite(path, crops[0], resolution=(1200, 1200), resolutionunit="INCH")  # a document scan
    with pytest.warns(UserWarning, match=r"1200 pixels per inch"):
        slide = open_slide(path)
    assert slide.pixel_size_um is None
    slide.close()
    tifffile.imwrite(path, crops[0], resolution=(50800, 50800), resolutionunit="INCH")  # a scanner's 0.5 µm
    with open_slide(path) as slide:
        assert slide.pixel_size_um == pytest.approx(0.5)


def test_quantify_takes_the_stores_pixel_size_and_refuses_another(crops, tmp_path):
    """Segmented with --pixel-size, quantified without it: the µm columns and compartments use
    the size the cells were found at (they were 25,400 µm/px, rings of 0 px); a different size
    given later is refused, not measured on another grid."""
    path = tmp_path / "pillow.tif"
    _pillow_tiff(path, crops[:2])
    done = run_cli("segment", path, "--nuclear-channel", "0", "--pixel-size", "0.325")
    assert done.returncode == 0, done.stderr
    store = tmp_path / "pillow.ifcell"
    assert cells_of(store) in CROP_NUCLEI
    done = run_cli("quantify", path, store, "--out", tmp_path / "cells.csv")
    assert done.returncode == 0, done.stderr
    assert "pixel size 0.325 µm, from pillow.ifcell (segmented at it)" in done.stderr
    table = pd.read_csv(tmp_path / "cells.csv")
    assert np.allclose(table["X_centroid_um"], table["X_centroid"] * 0.325)
    assert (table["ring_area"] > 0).mean() > 0.9
    line = one_line_error(run_cli("quantify", path, store, "--out", tmp_path / "c.csv", "--pixel-size", "0.5"))
    assert "segmented at 0.325 µm/px but pillow.tif is now 0.5 µm/px" in line
    assert not (tmp_path / "c.csv").exists()
    # segmenting again at the new size added cells on another grid to the store, which kept
    # its old size: quantify still refused it, as it said to segment again
    kept = (store / "store.json").read_text()
    line = one_line_error(run_cli("segment", path, "--nuclear-channel", "0", "--pixel-size", "0.5"))
    assert "pillow.ifcell: its cells were segmented at 0.325 µm/px but pillow.tif is now 0.5 µm/px" in line
    assert "move this label store away" in line and (store / "store.json").read_text() == kept


def test_the_gui_quantifies_the_slide_as_the_loader_opened_it(crops, tmp_path):
    """Gating's Quantify gets the Loader's slide object, with the pixel size typed there; a path
    alone re-opened the file and lost it."""
    from napari_ifcell.core.steps import run_to_end
    from napari_ifcell.pipeline.gating import quantify_slide_steps

    path = tmp_path / "pillow.tif"
    _pillow_tiff(path, crops[:2])
    assert run_cli("segment", path, "--nuclear-channel", "0", "--pixel-size", "0.325").returncode == 0
    store, out = tmp_path / "pillow.ifcell", tmp_path / "t.parquet"
    table, _, _ = run_to_end(quantify_slide_steps(path, store, out, pixel_size_um=0.325, channel_names=["a", "b"]))
    assert np.allclose(table["Y_centroid_um"], table["Y_centroid"] * 0.325) and "b_cell_mean" in table
    # a cell table typed as .h5ad is written as AnnData, and loads back for gating
    from napari_ifcell.pipeline.gating import load_table_with_suggestions

    run_to_end(quantify_slide_steps(path, store, tmp_path / "t.h5ad", pixel_size_um=0.325, channel_names=["a", "b"]))
    loaded, _, _ = load_table_with_suggestions(tmp_path / "t.h5ad", labels=store)
    pd.testing.assert_frame_equal(loaded[table.columns], table, check_dtype=False)
    assert set(loaded["imageid"]) == {"pillow"}
    with pytest.raises(ValueError, match="segmented at 0.325"):
        run_to_end(quantify_slide_steps(path, store, out, pixel_size_um=0.5))
