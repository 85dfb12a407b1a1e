"""A slide, its cells and regions as a SpatialData store (scverse: napari-spatialdata, sopa,
squidpy, LazySlide), written with the spatialdata library ([spatialdata] extra).

Elements, all in one ``global`` coordinate system in micrometres on the IF grid:
``images/<slide>`` (multiscale, channel names as ``c``) and, for a pair, ``images/he`` placed
by its pixel size and registration offset; ``labels/nuclei`` (the label store);
``tables/table`` (AnnData: marker means as X, the rest of the cell table in obs, annotating
``nuclei`` through ``region`` / ``CellID``; its ``obsm["spatial"]`` stays in level-0 pixels, as
squidpy expects); ``shapes/regions`` (the named regions).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.io.atomic import replace_folder
from napari_ifcell.io.project import slide_name

SCALE_FACTORS_UNTIL = 1024  # pyramids go down to about this many pixels


def write_spatialdata(
    slide,
    path: str | Path,
    *,
    store=None,
    table: pd.DataFrame | None = None,
    markers=(),
    regions=(),
    he_slide=None,
    registration=None,
) -> Path:
    """Write ``slide`` and what is given of its cells to ``path`` (a ``.zarr`` folder).

    ``table``: a cell table on the slide's grid (CellID = the store's label values);
    ``markers``: its columns that become X; ``regions``: :class:`~napari_ifcell.io.regions.Region`;
    ``he_slide`` with its ``registration`` (:class:`~napari_ifcell.io.pair.Registration`): the
    registered H&E of a pair, placed on the IF's micrometres."""
    try:
        import spatialdata
        from spatialdata.models import Image2DModel, Labels2DModel, ShapesModel, TableModel
        from spatialdata.transformations import Scale, Sequence, Translation
    except ImportError:
        raise ImportError(
            "SpatialData export needs the spatialdata library: pip install 'napari-ifcell[spatialdata]'"
        ) from None

    path = Path(path)
    px = slide.require_pixel_size()
    if store is not None:
        store.require_shape(slide.shape, str(slide.path))

    def to_um(pixel_um):
        return {"global": Scale([pixel_um, pixel_um], axes=("y", "x"))}

    images = {
        element_name(slide.path): Image2DModel.parse(
            _cyx(slide),
            dims=("c", "y", "x"),
            c_coords=list(slide.channel_names),
            scale_factors=_scale_factors(slide.shape),
            transformations=to_um(px),
        )
    }
    if he_slide is not None:
        # IF µm = (H&E µm - offset) / scale
        s = registration.scale if registration is not None else 1.0
        offset = np.asarray(registration.offset_um if registration is not None else (0.0, 0.0), float)
        he_px = he_slide.require_pixel_size() / s
        place = Sequence([Scale([he_px, he_px], axes=("y", "x")), Translation(-offset / s, axes=("y", "x"))])
        images["he"] = Image2DModel.parse(
            _cyx(he_slide),
            dims=("c", "y", "x"),
            c_coords=list(he_slide.channel_names),
            scale_factors=_scale_factors(he_slide.shape),
            transformations={"global": place},
        )
    elements: dict = {"images": images}
    if store is not None:
        from napari_ifcell.io.levels import dask_level, label_dtype

        elements["labels"] = {
            "nuclei": Labels2DModel.parse(
                dask_level(store.levels[0]).astype(label_dtype(store)).rechunk(1024),
                dims=("y", "x"),
                scale_factors=_scale_factors(store.shape),
                transformations=to_um(px),
            )
        }
    if table is not None:
        from napari_ifcell.io.cell_table import to_anndata

        adata = to_anndata(_plain_obs(table), markers, image_id=slide_name(slide.path))
        obs = _obs_names_spatialdata_takes(adata.obs)
        to_new = dict(zip(adata.obs.columns, obs.columns))
        adata.uns["units"] = {to_new.get(c, c): u for c, u in adata.uns["units"].items()}
        as_in_table = adata.uns.get("renamed_columns", {})  # names AnnData could not keep either
        renamed = {new: as_in_table.get(old, old) for old, new in to_new.items() if new != as_in_table.get(old, old)}
        if renamed:  # a reader can map them back
            adata.uns["renamed_columns"] = renamed
        adata.obs = obs
        adata.obs["region"] = pd.Categorical(["nuclei"] * adata.n_obs)
        adata.obs["CellID"] = adata.obs["CellID"].astype(np.int64)
        elements["tables"] = {
            "table": TableModel.parse(adata, region="nuclei", region_key="region", instance_key="CellID")
        }
    if regions:
        import geopandas
        from shapely.geometry import Polygon

        polygons = [Polygon(np.asarray(r.vertices, float)[:, ::-1]) for r in regions]  # (row, col) -> (x, y)
        frame = geopandas.GeoDataFrame({"name": [r.name for r in regions]}, geometry=polygons)
        elements["shapes"] = {"regions": ShapesModel.parse(frame, transformations=to_um(px))}
    sdata = spatialdata.SpatialData(**elements)
    tmp = path.with_name(f".{path.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        sdata.write(tmp)
        replace_folder(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def element_name(path: Path) -> str:
    """A SpatialData element name from a slide's file name (letters, digits, ``_ - .``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", slide_name(path)) or "slide"


def _cyx(slide):
    level = slide.dask_levels()[0]
    return level.transpose(2, 0, 1) if slide.is_rgb else level


def _scale_factors(shape) -> list[int]:
    factors, size = [], max(shape)
    while size > SCALE_FACTORS_UNTIL:
        factors.append(2)
        size //= 2
    return factors


def _plain_obs(table: pd.DataFrame) -> pd.DataFrame:
    """Columns every AnnData reader takes: text columns (str / None mixed) as categoricals, a
    missing value kept missing."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object or isinstance(out[column].dtype, pd.StringDtype):
            values = out[column].astype(object)
            out[column] = pd.Categorical(values.where(values.isna(), values.astype(str)))
    return out


def _obs_names_spatialdata_takes(obs: pd.DataFrame) -> pd.DataFrame:
    """SpatialData refuses obs columns with other characters than letters, digits and ``_.-``:
    a prediction's ``prob_CD4 T`` becomes ``prob_CD4_T`` (two names that would become one are
    refused, naming both)."""
    renamed = {c: re.sub(r"[^\w.-]", "_", str(c)) for c in obs.columns}
    seen: dict[str, str] = {}
    for old, new in renamed.items():
        if new.lower() in seen:
            raise ValueError(
                f"the table's columns {seen[new.lower()]!r} and {old!r} would both be {new!r} in SpatialData "
                "(which takes letters, digits and _.- only); rename one"
            )
        seen[new.lower()] = old
    return obs.rename(columns=renamed)
