"""`napari-ifcell pyramid`: a slide napari cannot show as it is (one huge level) copied into
a tiled pyramid, with its channel names, pixel size and pixels unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_ifcell.cli import main
from napari_ifcell.io import open_slide


@pytest.mark.parametrize("kind", ["fluorescence", "rgb"])
def test_pyramid_copies_a_flat_slide_with_its_names_pixel_size_and_pixels(kind, tmp_path, capsys):
    rng = np.random.default_rng(5)
    source = tmp_path / "flat.tif"
    if kind == "rgb":
        data = rng.integers(0, 256, (700, 900, 3), dtype=np.uint8)
        tifffile.imwrite(
            source, data, photometric="rgb", resolution=(1e4 / 0.25, 1e4 / 0.25), resolutionunit="CENTIMETER"
        )
    else:
        data = rng.integers(0, 60000, (3, 700, 900), dtype=np.uint16)
        tifffile.imwrite(
            source,
            data,
            ome=True,
            metadata={
                "axes": "CYX",
                "Channel": {"Name": ["DAPI", "CD8a", "Ki67"]},
                "PhysicalSizeX": 0.25,
                "PhysicalSizeY": 0.25,
            },
        )
    out = tmp_path / "copy.ome.tif"
    assert main(["pyramid", str(source), str(out), "--tile", "128"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with open_slide(out) as copy:
        assert copy.level_shapes == [(700, 900), (350, 450), (175, 225), (88, 113)]
        assert copy.pixel_size_um == pytest.approx(0.25)
        assert copy.is_rgb == (kind == "rgb")
        if kind != "rgb":
            assert copy.channel_names == ("DAPI", "CD8a", "Ki67")
        np.testing.assert_array_equal(copy.read_region(0, 0, 700, 900), data)
    assert main(["pyramid", str(source), str(tmp_path / "copy.tif")]) == 2  # not an OME-TIFF name
