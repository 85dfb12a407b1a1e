"""Patch data sets for the H&E classifiers: cells, their IF-derived labels, patches, splits."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.classes import CLASS_OF_PHENOTYPE
from napari_ifcell.core.classify.model import LEARNT_FILE, ClassifierConfig
from napari_ifcell.core.classify.patches import extract_patches, mask_patches
from napari_ifcell.core.classify.sampling import sample_marker_balanced, sample_per_class, spatial_split
from napari_ifcell.core.gating.gateset import panel_names
from napari_ifcell.io.channels import nuclear_channel_index
from napari_ifcell.notes import note

SAMPLINGS = ("per_class", "marker_balanced", "natural")
INDEX_FILE = "index.parquet"  # a data set's cells: CellID, centroid, slide, split, target(s)


def classifier_targets(table: pd.DataFrame, config: ClassifierConfig) -> np.ndarray:
    """Class index per cell (-1: no usable label), or ``(N, markers)`` of 1 / 0 / -1 (unknown:
    uncertain, over-exposed or inconsistent) from a gated table."""
    if config.task == "multiclass":
        classes = table["phenotype"].map(CLASS_OF_PHENOTYPE)
        index = {c: i for i, c in enumerate(config.classes)}
        return classes.map(lambda c: index.get(c, -1)).to_numpy(np.int64)
    out = np.full((len(table), len(config.markers)), -1, np.float32)
    gated = [c.removesuffix("_state") for c in table.columns if c.endswith("_state")]
    named = panel_names(gated)  # CD3 for CD3e...
    for m, marker in enumerate(config.markers):
        column = f"{named.get(marker, marker)}_state"
        if column not in table.columns:
            raise ValueError(
                f"the gated table has no {column} column: the markers to learn ({', '.join(config.markers)}) "
                f"must be gated markers of this table ({', '.join(gated) or 'none'})"
            )
        state = table[column].to_numpy()
        out[state == "positive", m] = 1
        out[state == "negative", m] = 0
    return out


MAX_UPSAMPLING = 2.0  # a slide this much coarser than a model's resolution lacks the detail it learnt


def _is_pair(source) -> bool:
    return hasattr(source, "if_slide")


def model_scale(source, config: ClassifierConfig) -> float:
    """Model pixels per level-0 pixel of ``source`` (a pair: the IF grid; or an H&E slide alone);
    refuses a slide too coarse for the model (see :data:`MAX_UPSAMPLING`) or an input it lacks."""
    from napari_ifcell.io.errors import SlideError

    slide = source.if_slide if _is_pair(source) else source
    ps = slide.require_pixel_size()
    if ps > config.um_per_px * MAX_UPSAMPLING:
        raise SlideError(
            slide.path,
            f"is {ps:g} µm per pixel but the classifier was trained at {config.um_per_px:g} µm per pixel: "
            f"more than {MAX_UPSAMPLING:g}x coarser, too little detail to classify nuclei (scan at higher "
            "magnification, or train at this resolution)",
        )
    if config.input != "he" and not _is_pair(source):
        raise SlideError(slide.path, f"the classifier reads {config.input!r} and an H&E slide alone has no Hoechst")
    return ps / config.um_per_px


def patch_reader(source, config: ClassifierConfig):
    """``read(y, x, h, w) -> (h, w, C) uint8`` of the classifier's input in pixels of the model's
    resolution (``config.um_per_px``): from a pair (the H&E aligned to the IF) or an H&E slide
    alone, resampled when the slide's resolution differs."""
    um = config.um_per_px
    if not _is_pair(source):
        return lambda y, x, h, w: source.read_region(y, x, h, w, um_per_px=um, fill=255)  # glass is white
    pair = source
    hoechst_scale = None
    if config.input != "he":  # Hoechst, or what this panel stains nuclei with (DAPI...)
        nuclear = nuclear_channel_index(pair.if_slide.channel_names, path=pair.if_slide.path)

    def he(y, x, h, w):
        return pair.read_he_aligned(y, x, h, w, um_per_px=um, fill=255)

    def hoechst(y, x, h, w):
        nonlocal hoechst_scale
        if hoechst_scale is None:
            from napari_ifcell.core.display import contrast_limits

            level = len(pair.if_slide.levels) - 1
            lh, lw = pair.if_slide.level_shapes[level]
            hoechst_scale = contrast_limits(pair.if_slide.read_region(0, 0, lh, lw, level=level, channels=[nuclear]))[0]
        raw = pair.if_slide.read_region(y, x, h, w, um_per_px=um, channels=[nuclear])[0].astype(np.float32)
        lo, hi = hoechst_scale
        return np.clip((raw - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)[..., None]

    if config.input == "he":
        return he
    if config.input == "hoechst":
        return hoechst
    return lambda y, x, h, w: np.concatenate([he(y, x, h, w), hoechst(y, x, h, w)], axis=-1)


def cell_patch_reader(source, config: ClassifierConfig):
    """``patches(centres_yx, size=None)``: the classifier's input around cells given in level-0
    pixels of ``source``. The slide is checked (:func:`model_scale`) and the reader built once,
    so a caller cutting chunk after chunk does neither again."""
    from napari_ifcell.io.resample import grid_position

    scale, read = model_scale(source, config), patch_reader(source, config)
    return lambda centres_yx, size=None: extract_patches(
        read, grid_position(np.asarray(centres_yx, np.float64), scale), size or config.patch_size
    )


def select_cells(
    table: pd.DataFrame, targets: np.ndarray, config: ClassifierConfig, *, sampling: str, n: int, seed: int
) -> np.ndarray:
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; choose from {SAMPLINGS}")
    if config.task == "multiclass":
        labelled = np.flatnonzero(targets >= 0)
        if sampling == "per_class":
            return labelled[sample_per_class(targets[labelled], n, seed=seed)]
    else:
        labelled = np.flatnonzero((targets >= 0).any(axis=1))
        if sampling == "marker_balanced":
            positive = pd.DataFrame(targets[labelled] == 1, columns=list(config.markers))
            return labelled[sample_marker_balanced(positive, n, seed=seed)]
    rng = np.random.default_rng(seed)  # natural distribution
    return np.sort(rng.choice(labelled, size=min(n, labelled.size), replace=False))


def label_reader(labels):
    """``read(y, x, h, w)`` over a label TIFF or label store folder (paths), a label Slide or
    2-D array-like, or a callable already."""
    from napari_ifcell.pipeline.tiling import read_labels

    if callable(labels):
        return labels
    if isinstance(labels, (str, Path)):
        from napari_ifcell.pipeline.tiling import open_nuclei

        labels = open_nuclei(labels)
    return lambda y, x, h, w: read_labels(labels, y, x, h, w)


CHUNK_CELLS = 1024


def _extract_chunk(slides, labels_path, config, centres, ids, size):
    """Worker side: patches and masks of one chunk of cells; ``slides``: the pair as the
    command opened it (``tiling.reopen_args``), opened once per process."""
    from napari_ifcell.pipeline.tiling import open_slides_cached

    _, pair = open_slides_cached(*slides)
    return cell_patch_reader(pair, config)(centres, size), mask_patches(
        _cached_label_reader(labels_path), centres, ids, size
    )


_LABEL_READERS: dict = {}


def _cached_label_reader(path):
    if path not in _LABEL_READERS:
        _LABEL_READERS[path] = label_reader(path)
    return _LABEL_READERS[path]


def _patches_and_masks(pair, labels, config, centres, ids, size, client):
    if client is None:
        return cell_patch_reader(pair, config)(centres, size), mask_patches(label_reader(labels), centres, ids, size)
    if callable(labels):
        raise ValueError("on a cluster, give the labels as a path (label TIFF or label store folder)")
    from napari_ifcell.pipeline.tiling import reopen_args

    args = (reopen_args(pair), str(labels), config)
    futures = [
        client.submit(_extract_chunk, *args, centres[i : i + CHUNK_CELLS], ids[i : i + CHUNK_CELLS], size, pure=False)
        for i in range(0, len(centres), CHUNK_CELLS)
    ]
    parts = client.gather(futures)
    return np.concatenate([p for p, _ in parts]), np.concatenate([m for _, m in parts])


def export_dataset(
    pair,
    table: pd.DataFrame,
    labels,
    out_dir,
    *,
    config: ClassifierConfig,
    sampling: str = "per_class",
    n: int = 5000,
    sizes=None,
    block_um: float = 250.0,
    seed: int = 0,
    client=None,
    table_name: str = "the cell table",
) -> pd.DataFrame:
    """Write patches (every size), nucleus masks and an index to ``out_dir`` (replaced whole).

    ``labels``: the nuclei (label TIFF, label store folder, or a ``read(y, x, h, w)``), for
    the mask patches; a store refuses a table of other cells (their masks would be cut
    empty), naming ``table_name``. ``client``: a dask.distributed client to cut the patches
    in parallel (cells are cut in raster-ordered chunks, so each worker reads few image blocks).
    """
    import dataclasses

    import zarr

    from napari_ifcell.io.label_store import LabelStore, require_store_cells

    require_store_cells(labels, table, table_name)
    if isinstance(labels, (str, Path)) and LabelStore.recorded(labels) is not None:
        from napari_ifcell.pipeline.tiling import cells_pixel_size

        cells_pixel_size(pair.if_slide, labels)  # patches at the pixel size the cells were segmented at

    # patches are cut on the IF grid: the model learns (and records) its resolution
    config = dataclasses.replace(config, um_per_px=pair.if_slide.require_pixel_size())
    sizes = tuple(sizes or (config.patch_size,))
    targets = classifier_targets(table, config)
    rows = select_cells(table, targets, config, sampling=sampling, n=n, seed=seed)
    cells = table.iloc[rows]
    block = (cells[["Y_centroid", "X_centroid"]].to_numpy() // 1024).astype(np.int64)
    cells = cells.iloc[np.lexsort((block[:, 1], block[:, 0]))].reset_index(drop=True)  # raster order of blocks
    rows = rows[np.lexsort((block[:, 1], block[:, 0]))]
    centres = cells[["Y_centroid", "X_centroid"]].to_numpy()
    index = pd.DataFrame(
        {
            "CellID": cells["CellID"].to_numpy(),
            "X_centroid": cells["X_centroid"],
            "Y_centroid": cells["Y_centroid"],
            "slide": Path(str(pair.if_slide.path)).name,
            "split": spatial_split(centres[:, ::-1] * pair.if_slide.pixel_size_um, block_um=block_um, seed=seed),
        }
    )
    _note_missing_splits(index["split"], block_um)
    if config.task == "multiclass":
        index["target"] = targets[rows]
        index["class"] = [config.classes[t] for t in targets[rows]]
    else:
        for m, marker in enumerate(config.markers):
            index[f"{marker}_target"] = targets[rows, m]
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    group = zarr.open_group(tmp / "patches.zarr", mode="w")
    for size in sizes:
        patches, masks = _patches_and_masks(pair, labels, config, centres, cells["CellID"].to_numpy(), size, client)
        group.create_array(str(size), data=patches, chunks=(256, size, size, patches.shape[-1]))
        group.create_array(f"mask_{size}", data=masks, chunks=(256, size, size))
    index.to_parquet(tmp / INDEX_FILE, index=False)
    (tmp / "config.json").write_text(__import__("json").dumps(config.to_json(), indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return index


def _note_missing_splits(split: pd.Series, block_um: float) -> None:
    """Say which split got no cell: a small slide or region spans too few blocks for all three."""
    missing = [name for name in ("train", "val", "test") if not (split == name).any()]
    if missing:
        note(
            f"no {' or '.join(missing)} cells: whole blocks of {block_um:g} µm go to one split, and these "
            f"cells span too few of them; cut cells from a larger slide or region, or give smaller blocks "
            f"(--block-um on the command line)"
        )


def read_gated_table(path) -> pd.DataFrame:
    """A gated cell table (one with the gates' ``phenotype`` column), the IF truth a data set is cut from."""
    from napari_ifcell.io.cell_table import read_cell_table

    table = read_cell_table(path)
    if "phenotype" not in table.columns:
        raise ValueError(f"{path}: no phenotype column; gate the table first (Gating widget, or napari-ifcell gate)")
    return table


def load_dataset(folder, size: int) -> tuple[np.ndarray, pd.DataFrame]:
    import zarr

    folder = Path(folder)
    group = zarr.open_group(folder / "patches.zarr", mode="r")
    if str(size) not in group:
        raise ValueError(
            f"{folder}: no {size} px patches; sizes: {[k for k in group.array_keys() if not k.startswith('mask')]}"
        )
    return np.asarray(group[str(size)][:]), pd.read_parquet(folder / INDEX_FILE)


class OtherCellsError(ValueError):
    """The cells a model learnt from are not the table's, by id or by place: another slide's."""


def learnt_index(folder) -> pd.DataFrame:
    """The cells a model learnt from (CellID, centroid where known): of a saved model that records
    them, or a data set's train and val cells."""
    folder = Path(folder)
    if (folder / LEARNT_FILE).is_file():
        learnt = pd.read_parquet(folder / LEARNT_FILE)
        if "CellID" not in learnt.columns:
            raise ValueError(f"{folder / LEARNT_FILE}: expected a CellID column (a model napari-ifcell train saved)")
        return learnt
    path = folder / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder}: no data set there (expected its {INDEX_FILE}; export-dataset --out) "
            f"and no model that records its training cells ({LEARNT_FILE}; napari-ifcell train --out)"
        )
    index = pd.read_parquet(path)
    if not {"CellID", "split"} <= set(index.columns):
        raise ValueError(f"{path}: expected CellID and split columns (a data set export-dataset wrote)")
    learnt = index[index["split"].isin(["train", "val"])]
    if not len(learnt):
        raise ValueError(f"{folder}: the data set has no train or val cells; nothing was learnt from it")
    return learnt


def learnt_cells(table: pd.DataFrame, folder) -> np.ndarray:
    """Which rows of ``table`` a model learnt from: the cells its folder records, or the train and
    val cells of the data set it was trained on (``folder``: either), by CellID; by place where the
    slide was segmented again (new ids). Refuses another slide's cells (:class:`OtherCellsError`:
    neither their ids nor their places are this table's cells')."""
    learnt = learnt_index(folder).set_index("CellID")
    places = ["X_centroid", "Y_centroid"]
    if not set(places) <= set(learnt.columns):  # no places to check the ids against
        return table["CellID"].isin(learnt.index).to_numpy()
    here = table[["CellID", *places]].drop_duplicates("CellID").set_index("CellID")
    both = learnt[places].join(here, how="inner", lsuffix="_dataset")
    moved = np.hypot(both["X_centroid"] - both["X_centroid_dataset"], both["Y_centroid"] - both["Y_centroid_dataset"])
    # a reviewer's split or merge moves a few cells: another segmentation moves most of them
    if len(both) and (moved > 1.0).mean() <= 0.5:
        return table["CellID"].isin(learnt.index).to_numpy()
    at_places = _cells_at_learnt_places(table, learnt[places].to_numpy(float))
    if at_places is None:
        raise OtherCellsError(
            f"{folder}: the cells the model learnt from are not this table's ({len(both)} of its {len(learnt)} "
            "learnt cell ids found, most of them at other places, and no cells at most of their places): "
            "they were cut from another slide"
        )
    note(
        f"{folder}: this table's cell ids are not the learnt cells' (the slide was segmented again): the "
        f"{int(at_places.sum())} cells within {SAME_PLACE_PX:g} px of a learnt cell's centroid are taken as learnt"
    )
    return at_places


def learnt_here(table: pd.DataFrame, folder) -> np.ndarray | None:
    """:func:`learnt_cells`, except that a model folder whose cells are another slide's gives
    None: the model learnt nothing of this slide (a data set given for it, and not matching it,
    is still refused)."""
    try:
        return learnt_cells(table, folder)
    except OtherCellsError:
        if (Path(folder) / LEARNT_FILE).is_file():
            return None
        raise


SAME_PLACE_PX = 3.0  # a nucleus segmented again: its centroid moves by a pixel or two, not to a neighbour's


def _cells_at_learnt_places(table: pd.DataFrame, learnt_xy: np.ndarray) -> np.ndarray | None:
    """Rows of ``table`` with a learnt cell's centroid within :data:`SAME_PLACE_PX` (the same
    nuclei under new ids); None when most learnt cells have none there (another slide)."""
    from scipy.spatial import cKDTree

    xy = table[["X_centroid", "Y_centroid"]].to_numpy(float)
    known, learnt_xy = np.isfinite(xy).all(axis=1), learnt_xy[np.isfinite(learnt_xy).all(axis=1)]
    if not known.any() or not len(learnt_xy):
        return None
    found, _ = cKDTree(xy[known]).query(learnt_xy, distance_upper_bound=SAME_PLACE_PX)
    if np.isfinite(found).mean() < 0.5:
        return None
    near, _ = cKDTree(learnt_xy).query(xy[known], distance_upper_bound=SAME_PLACE_PX)
    out = np.zeros(len(table), bool)
    out[known] = np.isfinite(near)
    return out
