"""Label images as other segmenters and scripts save them: quantified when they are instance
labels, refused in one line when they are not (a binary mask, negative or fractional ids, no
cell at all), never measured as something else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_ifcell.io import open_slide
from napari_ifcell.pipeline.tiling import read_labels

from .conftest import CROP_SIZE, CROP_X0, CROP_Y0
from .test_cli import run_cli
from .test_real_slides import one_line_error


@pytest.fixture(scope="module")
def crop_and_labels(small_pair, crops, tmp_path_factory):
    """``(folder, IF crop path, its true nuclei)``: Hoechst and CD3e of a tissue region and the
    pair's true labels over it."""
    folder = tmp_path_factory.mktemp("other_labels")
    path = folder / "crop.tif"
    tifffile.imwrite(path, np.stack(crops[:2]), photometric="minisblack")
    with open_slide(small_pair.labels_path) as labels:
        truth = read_labels(labels, CROP_Y0, CROP_X0, CROP_SIZE, CROP_SIZE)
    return folder, path, truth


def _quantify(folder, image, labels_path, out):
    return run_cli("quantify", image, labels_path, "--pixel-size", "0.325", "--out", folder / out)


def test_instance_labels_with_gaps_and_wide_ids_keep_their_ids(crop_and_labels):
    folder, image, truth = crop_and_labels
    ids = np.unique(truth[truth > 0])
    wide = np.zeros_like(truth, np.int64)
    wide[truth > 0] = 5_000_000_000 + 7 * truth[truth > 0].astype(np.int64)  # gaps, and above 2**32
    tifffile.imwrite(folder / "wide.tif", wide)
    done = _quantify(folder, image, folder / "wide.tif", "wide.csv")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(folder / "wide.csv")
    assert sorted(table["CellID"]) == sorted(5_000_000_000 + 7 * ids.astype(np.int64))


@pytest.mark.parametrize(
    ("name", "make", "needle"),
    [
        ("binary", lambda t: (t > 0).astype(np.uint8) * 255, "got a binary mask (every object is 255)"),
        ("boolean", lambda t: t > 0, "got a binary mask (true/false)"),
        ("negative", lambda t: -t.astype(np.int32), "got negative ids"),
        ("float", lambda t: t.astype(np.float32), "got float32 values; save the ids as integers"),
        ("empty", lambda t: np.zeros_like(t, np.uint16), "no cells to quantify"),
    ],
)
def test_what_is_not_instance_labels_is_one_line_and_no_table(crop_and_labels, name, make, needle):
    """A 0/255 mask was one cell of 86,000 px; negative ids failed inside numpy naming no file;
    float ids were told the slide and labels might be swapped; no cell at all gave 0 cells, exit 0."""
    folder, image, truth = crop_and_labels
    path = folder / f"{name}.tif"
    tifffile.imwrite(path, make(truth))
    one_line_error(_quantify(folder, image, path, f"{name}.csv"), f"{name}.tif", needle)
    assert not (folder / f"{name}.csv").exists()
