"""OME-Zarr test files written by ome-zarr-py through the calls every version we support has
(0.15, which SpatialData's dask pin holds us to, up to the newest): an explicit pyramid, axes
with units, scale transforms and ``omero`` channel names."""

import numpy as np


def write_ngff(
    group, data: np.ndarray, *, axes: str, pixel_size_um: float, names, fmt=None, levels: int = 2, colors=None
):
    """``data`` with ``axes`` (e.g. "cyx", "czyx"); each level halves y and x."""
    from ome_zarr.writer import write_multiscale

    pyramid = [data]
    for _ in range(levels - 1):
        pyramid.append(pyramid[-1][..., ::2, ::2])
    axis_meta = [
        {"name": a, "type": "channel" if a == "c" else "space", **({"unit": "micrometer"} if a in "yx" else {})}
        for a in axes
    ]
    transforms = [
        [{"type": "scale", "scale": [pixel_size_um * 2**i if a in "yx" else 1.0 for a in axes]}] for i in range(levels)
    ]
    window = {"start": 0, "end": 4000, "min": 0, "max": 65535}
    colors = colors or ["FFFFFF"] * len(names)
    omero = {"channels": [{"label": n, "color": c, "window": window} for n, c in zip(names, colors)]}
    kwargs = {"fmt": fmt} if fmt is not None else {}
    write_multiscale(
        pyramid, group, axes=axis_meta, coordinate_transformations=transforms, metadata={"omero": omero}, **kwargs
    )
