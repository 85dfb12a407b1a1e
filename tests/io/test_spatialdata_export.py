"""SpatialData export, read back by the spatialdata library itself."""

import numpy as np
import pytest
import spatialdata  # the [spatialdata] extra, in [dev]

from napari_ifcell.io import open_slide
from napari_ifcell.io.pair import Registration
from napari_ifcell.io.regions import Region
from napari_ifcell.orion import ORION_CHANNELS


@pytest.fixture(scope="module")
def written(small_pair, small_table, truth_store, tmp_path_factory):
    from napari_ifcell.io.spatialdata_export import write_spatialdata

    table = small_table.assign(phenotype=np.where(small_table["CD20"] > small_table["CD20"].median(), "B cell", None))
    regions = [
        Region.rectangle("left", 0, 0, 1100, 700),
        Region("core", "polygon", np.array([[100, 100], [100, 400], [500, 250]], float)),
    ]
    out = tmp_path_factory.mktemp("sdata") / "slide.zarr"
    with open_slide(small_pair.if_path) as slide, open_slide(small_pair.he_path, pixel_size_um=0.325) as he:
        write_spatialdata(
            slide,
            out,
            store=truth_store,
            table=table,
            markers=ORION_CHANNELS,
            regions=regions,
            he_slide=he,
            registration=Registration(offset_um=(0.975, -0.65)),
        )
    return spatialdata.read_zarr(out), table


def test_elements_read_back_by_spatialdata(written, small_pair, truth_store):
    sdata, table = written
    assert set(sdata.images) == {"synthetic_if", "he"}
    image = sdata.images["synthetic_if"]["scale0"]["image"]
    with open_slide(small_pair.if_path) as slide:
        assert list(image.coords["c"].values) == list(slide.channel_names)
        assert np.array_equal(image.data[:, 200:260, 300:380].compute(), slide.read_region(200, 300, 60, 80))
    labels = sdata.labels["nuclei"]["scale0"]["image"]
    assert np.array_equal(labels.data.compute(), truth_store.levels[0][:])


def test_table_annotates_the_labels(written):
    from spatialdata.models import TableModel

    sdata, table = written
    adata = sdata.tables["table"]
    attrs = adata.uns[TableModel.ATTRS_KEY]
    assert (attrs["region"], attrs["region_key"], attrs["instance_key"]) == ("nuclei", "region", "CellID")
    assert adata.n_obs == len(table) and list(adata.var_names) == [m for m in ORION_CHANNELS if m in table]
    assert np.allclose(adata[:, "CD20"].X.ravel(), table["CD20"].to_numpy())
    label_values = np.unique(sdata.labels["nuclei"]["scale0"]["image"].data.compute())
    assert set(adata.obs["CellID"].astype(int)) <= set(label_values.tolist())
    assert adata.obs["phenotype"].isna().sum() == (table["phenotype"].isna()).sum()


def test_coordinates_are_micrometres_and_the_h_and_e_is_registered(written):
    from spatialdata.transformations import get_transformation

    sdata, _ = written
    to_global = get_transformation(sdata.labels["nuclei"], "global")
    assert np.allclose(to_global.to_affine_matrix(("y", "x"), ("y", "x"))[:2, :2], np.diag([0.325, 0.325]))
    he = get_transformation(sdata.images["he"], "global").to_affine_matrix(("y", "x"), ("y", "x"))
    # H&E pixel (0, 0) sits at -offset in the IF frame (H&E = IF + offset)
    assert np.allclose(he @ [0, 0, 1], [-0.975, 0.65, 1])
    shapes = sdata.shapes["regions"]
    assert list(shapes["name"]) == ["left", "core"]
    assert shapes.geometry.iloc[0].bounds == (0, 0, 700, 1100)  # x, y in pixels, scaled to µm by the transform
