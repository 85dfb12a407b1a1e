"""Optional dependencies: which extra brings which module, and one clear line when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

# top-level module -> (what it is for, the extra that installs it)
EXTRA_OF_MODULE = {
    "torch": ("PyTorch", "sam"),
    "torchvision": ("torchvision", "sam"),
    "segment_anything": ("Segment Anything", "sam"),
    "distributed": ("dask.distributed (headless runs on a cluster)", "cluster"),
    "matplotlib": ("matplotlib (figures and histograms)", "napari"),
    "napari": ("napari (the viewer and its widgets)", "napari"),
    "magicgui": ("magicgui (the widgets)", "napari"),
    "qtpy": ("qtpy (the widgets)", "napari"),
    "superqt": ("superqt (the widgets)", "napari"),
    "cellpose": ("Cellpose (a learned nucleus segmenter)", "cellpose"),
    "instanseg": ("InstanSeg (a learned nucleus segmenter)", "instanseg"),
    "ome_zarr": ("ome-zarr-py (OME-Zarr export)", "ngff"),
    "spatialdata": ("spatialdata (SpatialData export)", "spatialdata"),
    "geopandas": ("geopandas (SpatialData export)", "spatialdata"),
}
NOT_IN_ALL = {"spatialdata"}  # too heavy for [all]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def missing_extra_message(module: str, extra: str | None = None) -> str | None:
    """``pip install 'napari-ifcell[extra]'`` advice for a missing top-level module, or None.
    ``extra`` overrides the default extra (torch is in both [sam] and [classifier])."""
    top = module.split(".")[0]
    if top not in EXTRA_OF_MODULE:
        return None
    what, default = EXTRA_OF_MODULE[top]
    extra = extra or default
    also = "" if extra in NOT_IN_ALL else " (or [all])"
    return f"{what} is not installed: pip install 'napari-ifcell[{extra}]'{also}"


def require(module: str, *, extra: str | None = None) -> ModuleType:
    """Import ``module``, or raise MissingExtraError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        message = missing_extra_message(exc.name or module, extra)
        if message is None:
            raise
        raise MissingExtraError(message) from exc
