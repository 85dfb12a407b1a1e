"""OME-Zarr export, read back by the format's own library (ome-zarr-py, what napari-ome-zarr
uses), by zarr directly, and by our reader."""

import json

import numpy as np
import pandas as pd
import pytest

from napari_ifcell.io import open_slide
from napari_ifcell.io.ome_zarr_export import write_ome_zarr


@pytest.fixture(scope="module")
def exported(small_pair, small_table, truth_store, tmp_path_factory):
    classes = pd.Series(
        np.where(small_table["CD20"] > small_table["CD20"].quantile(0.8), "B cell", "other"),
        index=small_table["CellID"],
    )
    out = tmp_path_factory.mktemp("ngff") / "slide.ome.zarr"
    with open_slide(small_pair.if_path) as slide:
        write_ome_zarr(slide, out, store=truth_store, classes=classes)
    return out, classes


def test_ome_zarr_py_reads_the_image_and_its_labels(exported, small_pair):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Multiscales, Reader

    out, classes = exported
    nodes = list(Reader(parse_url(str(out)))())
    image = next(n for n in nodes if n.load(Multiscales) and not n.load(Label))
    label = next(n for n in nodes if n.load(Label))
    with open_slide(small_pair.if_path) as slide:
        assert image.data[0].shape == (slide.n_channels, *slide.shape)
        assert image.metadata["channel_names"] == list(slide.channel_names)
        assert len(image.data) == len(slide.levels)
        window = np.asarray(image.data[0][:, 300:400, 500:600])
        assert np.array_equal(window, slide.read_region(300, 500, 100, 100))
    # labels: the store's pixels, one property per cell with its class, class colours
    assert label.data[0].shape == small_pair_shape(small_pair)
    props = label.metadata["properties"]
    assert len(props) == len(classes)
    some = list(props.items())[:50]
    assert all(p["class"] == classes[cell] for cell, p in some)
    colours = label.metadata["color"]
    b_cell = next(c for c, name in classes.items() if name == "B cell")
    assert np.allclose(colours[b_cell], np.array([31, 119, 180, 255]) / 255)  # the viewer's B-cell colour


def small_pair_shape(pair):
    with open_slide(pair.if_path) as slide:
        return slide.shape


def test_ngff_04_metadata_and_our_reader(exported, small_pair, truth_store):
    import zarr

    out, _ = exported
    attrs = json.loads((out / ".zattrs").read_text())
    multiscale = attrs["multiscales"][0]
    assert multiscale["version"] == "0.4"
    assert [a["name"] for a in multiscale["axes"]] == ["c", "y", "x"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]]
    assert scales[0] == [1.0, 0.325, 0.325] and scales[1][1] == pytest.approx(0.65, rel=0.01)
    assert json.loads((out / "labels" / ".zattrs").read_text())["labels"] == ["nuclei"]
    labels = zarr.open_group(out / "labels" / "nuclei", mode="r")
    # NGFF 0.4: a label image has as many levels as its image
    assert len(labels.attrs["multiscales"][0]["datasets"]) == len(multiscale["datasets"])
    first = labels.attrs["multiscales"][0]["datasets"][0]["path"]
    assert np.array_equal(labels[first][:], truth_store.levels[0][:])
    assert labels.attrs["image-label"]["source"] == {"image": "../../"}
    with open_slide(out) as back, open_slide(small_pair.if_path) as slide:
        assert back.channel_names == slide.channel_names and back.pixel_size_um == pytest.approx(0.325)
        assert np.array_equal(back.read_region(0, 0, 64, 64, level=1), slide.read_region(0, 0, 64, 64, level=1))


def test_rgb_slide_and_replacing_an_export(small_pair, tmp_path):
    out = tmp_path / "he.ome.zarr"
    with open_slide(small_pair.he_path) as he:
        write_ome_zarr(he, out)
        write_ome_zarr(he, out)  # again: the earlier export is replaced, not merged or refused
        with open_slide(out) as back:
            assert back.is_rgb and back.shape == he.shape
            assert np.array_equal(back.read_region(10, 20, 50, 60), he.read_region(10, 20, 50, 60))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["he.ome.zarr"]  # no partial folder left


def test_a_store_of_another_slide_is_refused(small_pair, tmp_path):
    from napari_ifcell.io.label_store import LabelStore

    other = LabelStore.create(tmp_path / "other.ifcell", (300, 300), pixel_size_um=0.325)
    with open_slide(small_pair.if_path) as slide, pytest.raises(ValueError, match="px but"):
        write_ome_zarr(slide, tmp_path / "x.ome.zarr", store=other)
    assert not (tmp_path / "x.ome.zarr").exists()
