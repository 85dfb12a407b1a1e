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


def test_a_copy_keeps_missing_channel_names_missing(tmp_path, capsys):
    """The walk: the reader's stand-ins for missing names (ch0, ch1...) were written into the copy
    as its channels' names, and the copy no longer said to give names."""
    image = np.random.default_rng(0).integers(0, 1000, (4, 64, 64), dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "partial.ome.tif", image, metadata={"axes": "CYX", "Channel": {"Name": ["DAPI", "", "CD3", ""]}}
    )
    assert (
        main(["pyramid", str(tmp_path / "partial.ome.tif"), str(tmp_path / "copy.ome.tif"), "--pixel-size", "0.5"]) == 0
    )
    with tifffile.TiffFile(tmp_path / "copy.ome.tif") as tif:
        assert 'Name="ch1"' not in tif.ome_metadata and 'Name="DAPI"' in tif.ome_metadata
    capsys.readouterr()
    with pytest.warns(UserWarning, match=r"channels \[1, 3\] have no name in the metadata"):
        copy = open_slide(tmp_path / "copy.ome.tif")
    assert copy.channel_names == ("DAPI", "ch1", "CD3", "ch3")
    copy.close()


def test_a_write_that_fails_leaves_no_partial_file(tmp_path):
    """A slide write that fails half-way (a full disk, a stopped copy) leaves nothing behind."""
    from napari_ifcell.io.pyramid_writer import write_pyramidal_ome_tiff

    def stop(*_):
        raise OSError("no space left on device")

    image = np.zeros((2, 1024, 1024), np.uint16)
    with pytest.raises(OSError, match="no space left"):
        write_pyramidal_ome_tiff(tmp_path / "s.ome.tif", image, axes="CYX", tile=256, progress=stop)
    assert list(tmp_path.iterdir()) == []
