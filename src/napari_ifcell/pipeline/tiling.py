"""Regions of a slide: tiles that cover them, and label windows read from any source."""

from __future__ import annotations

import warnings
import weakref
from functools import lru_cache

import numpy as np


def tiles(region: tuple[int, int, int, int], tile: int) -> list[tuple[int, int, int, int]]:
    """``(y, x, h, w)`` tiles covering ``region`` row by row."""
    y, x, h, w = region
    return [
        (ty, tx, min(tile, y + h - ty), min(tile, x + w - tx))
        for ty in range(y, y + h, tile)
        for tx in range(x, x + w, tile)
    ]


def halo_window(box: tuple[int, int, int, int], halo: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(y, x, h, w)``: tile ``box`` with ``halo`` px around it, cut at the slide's edge (a
    halo beyond it would be fill, not tissue: a segmenter that subtracts a local background
    reads the step down to black as a band of nuclei, and no cell grows off the slide)."""
    ty, tx, th, tw = box
    y0, x0 = max(ty - halo, 0), max(tx - halo, 0)
    return y0, x0, min(ty + th + halo, shape[0]) - y0, min(tx + tw + halo, shape[1]) - x0


def slide_edges_of(window: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[bool, bool, bool, bool]:
    """Which sides (top, bottom, left, right) of ``window`` are the slide's own edges."""
    y, x, h, w = window
    return y == 0, y + h >= shape[0], x == 0, x + w >= shape[1]


def core_in(window: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The tile ``box`` in ``window``'s coordinates, as ``(y0, x0, y1, x1)`` (see ``owned_labels``)."""
    dy, dx = box[0] - window[0], box[1] - window[1]
    return dy, dx, dy + box[2], dx + box[3]


def read_labels(source, y: int, x: int, h: int, w: int) -> np.ndarray:
    """A level-0 window of a label image (a label Slide, or any 2-D array-like); outside is 0."""
    if hasattr(source, "read_region"):
        window = source.read_region(y, x, h, w, level=0)
        return window[0] if window.ndim == 3 else window
    from napari_ifcell.io.label_store import read_window

    return read_window(source, y, x, h, w)


NOT_A_LABEL_STORE = "a folder without a label store (no store.json)"
LABEL_SOURCES = "expected a label store folder, a label image file or an OME-Zarr label image"


def is_store_folder(path) -> bool:
    """Whether nuclei at ``path`` are a label store's folder; an OME-Zarr label image
    (``labels/<name>``) is a folder too, but opens as a label image file does."""
    from pathlib import Path

    from napari_ifcell.io.ngff import is_ome_zarr

    return Path(path).is_dir() and not is_ome_zarr(Path(path))


def open_nuclei(labels_path):
    """Level-0 nuclei from a label image file (a Slide) or a label store folder (its level-0
    zarr array; the store's cell index is not read). A file is checked to be instance labels."""
    from pathlib import Path

    path = Path(labels_path)
    if is_store_folder(path):
        if not (path / "store.json").is_file():
            raise FileNotFoundError(f"{path}: {NOT_A_LABEL_STORE}; {LABEL_SOURCES}")
        return _complete_store_labels(path)
    slide = open_label_file(path)
    try:
        _refuse_masks_and_negative_ids(slide, _expected_labels(path))
    except ValueError:
        slide.close()
        raise
    _CHECKED[id(slide)] = slide
    return slide


# label images open_nuclei (or nuclei_on_grid) has checked, by id (a Slide is not hashable)
_CHECKED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def nuclei_on_grid(labels, slide) -> tuple[object, bool]:
    """``(labels, opened here)`` for quantifying ``slide``: a path opened as :func:`open_nuclei`
    opens it; a Slide opened by hand (``open_slide(labels)``) checked as it checks a file's
    (an RGB, several channels, an intensity image or a binary mask are refused, not quantified
    into nonsense); an array as it is. Refused too when not on the slide's level-0 grid."""
    from pathlib import Path

    from napari_ifcell.io.slide import Slide

    given, opened = labels, isinstance(labels, str | Path)
    if opened:
        labels = open_nuclei(labels)
    try:
        if isinstance(labels, Slide) and _CHECKED.get(id(labels)) is not labels:
            expected = _expected_labels(labels.path)
            problem = _not_label_image(labels)
            if problem or labels.levels[0].dtype.kind == "f":  # float ids are read whole when opened as labels
                raise ValueError(
                    f"{expected}, {problem or f'got {labels.levels[0].dtype} ids'}; give the label image's path, "
                    "which is opened as labels"
                )
            _refuse_masks_and_negative_ids(labels, expected)
            _CHECKED[id(labels)] = labels
        name = given if opened else labels.path if isinstance(labels, Slide) else "the labels"
        require_labels_on_grid(name, tuple(labels.shape[-2:]), getattr(labels, "pixel_size_um", None), slide)
    except BaseException:
        if opened and hasattr(labels, "close"):
            labels.close()
        raise
    return labels, opened


def require_labels_on_grid(labels_path, shape, pixel_size_um, slide) -> None:
    """Labels must lie on ``slide``'s level-0 grid: the same shape, and the same pixel size
    where both say one (µm columns and compartments would be measured on another grid)."""
    from pathlib import Path

    name = Path(slide.path).name
    if tuple(shape) != tuple(slide.shape):
        raise ValueError(
            f"{labels_path}: the labels are {shape[0]} x {shape[1]} px but {name} is {slide.shape[0]} x "
            f"{slide.shape[1]} px at level 0; expected labels on the slide's own grid"
        )
    theirs = slide.pixel_size_um
    if pixel_size_um and theirs and abs(pixel_size_um - theirs) > 1e-3 * theirs:
        said = f"{labels_path}: the labels say {pixel_size_um:g} µm/px but {name} is {theirs:g} µm/px"
        if getattr(slide, "pixel_size_source", None) == "given":  # the user's word over the files'
            from napari_ifcell.notes import note

            note(f"{said} as given; the cells are measured at {theirs:g} µm/px")
            return
        raise ValueError(f"{said}; expected labels on the slide's own grid (or give the slide's pixel size)")


def _complete_store_labels(folder):
    """A label store's level-0 labels as its last complete write left them: a write that was
    killed is put back first (opening the store does), and a store that another process is
    writing now is refused (its cells would be read half old, half new)."""
    from napari_ifcell.io.folder_lock import FolderLock
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.io.store_undo import ChunkUndoLog, LabelStoreLockedError

    if ChunkUndoLog(folder).pending_txn() is not None:
        LabelStore.open(folder)  # recovers an interrupted write; leaves a running one to its writer
        if ChunkUndoLog(folder).pending_txn() is not None:
            raise LabelStoreLockedError(
                f"{folder}: this label store is being written now ({FolderLock(folder, 'write').holder()}); "
                "wait for it to finish"
            )
    return LabelStore.open_labels(folder)


def _expected_labels(path) -> str:
    return f"{path}: expected a label image (one plane of integer cell ids, 0 = background)"


def open_label_file(path):
    """A label image file as a Slide of integer ids (Fiji's float label images read as whole
    numbers), refused when it is an RGB or several channels, true/false or of another type;
    its pixels are not looked at (see :func:`open_nuclei`)."""
    from napari_ifcell.io import open_slide

    with warnings.catch_warnings():  # a label image needs no channel names, and is measured at its slide's pixel size
        warnings.filterwarnings("ignore", message=r".*: (no channel names|pixel size unknown)")
        slide = open_slide(path, label_image=True)  # ids as stored; a second series is another mask
    problem = _not_label_image(slide)
    if problem:
        slide.close()
        raise ValueError(f"{_expected_labels(path)}, {problem}")
    if slide.levels[0].dtype.kind == "f":  # Fiji's label images; fractions are refused as they are read
        from napari_ifcell.io.levels import WholeNumbers

        slide.levels = [WholeNumbers(level, path) for level in slide.levels]
    return slide


def _not_label_image(slide) -> str | None:
    """What makes ``slide`` no label image (an RGB, several channels, true/false or values
    that are not numbers), or None; float ids (Fiji's) pass."""
    dtype = np.dtype(slide.levels[0].dtype)
    if slide.is_rgb or slide.n_channels != 1:
        kind = "an RGB image" if slide.is_rgb else f"{slide.n_channels} channels"
        return f"got {kind} of {dtype} (are the slide and the labels given the other way round?)"
    if dtype == np.bool_:
        return "got a binary mask (true/false): label its objects first"
    if dtype.kind not in "iuf":
        return f"got {dtype} values; save the ids as integers (e.g. int32)"
    return None


BIGGEST_CELL_PX = 50_000  # no cell is this large (5,300 µm² at 0.325 µm/px); a background can be


def _refuse_masks_and_negative_ids(slide, expected: str) -> None:
    """Look at a sample (level 0, up to 2048 px a side about its centre; lower levels may be
    averaged): a binary mask (one value over many separate objects), or a background saved as
    another id than 0, would be quantified as one huge cell; an intensity image or a class map
    (each value over many separate pieces) as cells of scattered pixels; and negative ids fail
    deep inside quantification."""
    from skimage.measure import label

    h, w = slide.shape
    y, x = max(0, (h - 2048) // 2), max(0, (w - 2048) // 2)
    sample = read_labels(slide, y, x, min(h, 2048), min(w, 2048))
    if sample.min() < 0:
        raise ValueError(f"{expected}, got negative ids (down to {sample.min()})")
    values, counts = np.unique(sample[sample > 0], return_counts=True)
    pieces = int(label(sample, background=0, connectivity=2).max())  # areas of one value each
    if len(values) == 1 and pieces >= 5:  # not one cell in pieces
        raise ValueError(
            f"{expected}, got a binary mask (every object is {values[0]}): label its objects first "
            "(e.g. skimage.measure.label), or give the segmenter's instance labels"
        )
    scattered = pieces > 3 * len(values) + 20 or counts.sum() < 3 * pieces  # pieces of a pixel or two: no cells
    if len(values) >= 2 and pieces >= 20 and scattered:  # a cell is one piece; a cut one rarely more
        raise ValueError(
            f"{expected}, got {len(values):,} values spread over {pieces:,} separate pieces "
            f"({pieces / len(values):.0f} per value): an intensity image, a class map or ids reused "
            "across tiles, not one id per cell; give the segmenter's instance labels"
        )
    largest = int(counts.argmax()) if len(counts) else 0
    if len(values) >= 6 and counts[largest] > max(sample.size / 2, BIGGEST_CELL_PX):
        raise ValueError(
            f"{expected}, got id {values[largest]} over {counts[largest] / sample.size:.0%} of the image with "
            f"{len(values) - 1} cells beside it: is {values[largest]} the background? Save it as 0"
        )


def cells_pixel_size(slide, labels_path, option: str = "--pixel-size") -> float:
    """The pixel size to measure ``slide``'s cells at: the slide's own, or the one its label
    store was segmented at when the slide does not say (with a note); a slide that says
    otherwise than its store is refused (µm columns and compartment widths would be measured
    on another grid than the cells were found on), one with neither asks for ``option``."""
    from pathlib import Path

    from napari_ifcell.io.label_store import LabelStore

    recorded = LabelStore.recorded(labels_path) or {}
    if recorded.get("slide"):  # a store made for another slide is refused, as exports refuse it
        import pandas as pd

        from napari_ifcell.io.label_store import slide_identity

        LabelStore(Path(labels_path), [], pd.DataFrame(), recorded).check_slide(slide_identity(slide))
    stored = recorded.get("pixel_size_um")
    if stored is not None and slide.pixel_size_um is None:
        from napari_ifcell.notes import note

        slide.pixel_size_um, slide.pixel_size_source = float(stored), "store"
        slide.notes.append(f"pixel size {stored:g} µm, from {Path(labels_path).name} (segmented at it)")
        note(f"{slide.path}: {slide.notes[-1]}")
    elif stored is not None and abs(slide.pixel_size_um - stored) > 1e-3 * stored:
        raise ValueError(
            f"{labels_path}: its cells were segmented at {stored:g} µm/px but {slide.path.name} is now "
            f"{slide.pixel_size_um:g} µm/px; give the pixel size they were segmented at ({stored:g}), or move "
            f"this label store away ({Path(labels_path).name}) to segment the slide again into a new one"
        )
    return slide.require_pixel_size(option)


def require_cells(table, labels_path, where: str = "anywhere on the slide") -> None:
    """Refuse a table of no cells: the labels hold none ``where`` (an empty table and exit 0
    would pass for a result)."""
    if not len(table):
        raise ValueError(f"{labels_path}: no cells to quantify (no label but 0 {where}); nothing written")


class NucleiLevels:
    """A label image file's or a label store's display levels (level 0 first), its level-0
    shape and pixel size (None when the source does not say)."""

    def __init__(self, labels_path):
        from pathlib import Path

        from napari_ifcell.io.label_store import LabelStore

        self.path = Path(labels_path)
        if is_store_folder(self.path):
            self.levels, meta = LabelStore.open_levels(self.path)
            self.pixel_size_um = meta.get("pixel_size_um")
        else:
            slide = open_label_file(self.path)  # for display: Fiji's float ids as integers
            self.levels, self.pixel_size_um = list(slide.levels), slide.pixel_size_um
        self.shape = tuple(self.levels[0].shape[-2:])


@lru_cache(maxsize=4)
def open_slides_cached(
    if_path: str,
    he_path: str | None,
    offset_um: tuple[float, float],
    if_pixel_size_um: float | None = None,
    he_pixel_size_um: float | None = None,
    channel_names: tuple[str, ...] | None = None,
    scale: float = 1.0,
):
    """(IF slide, SlidePair or None), opened once per process (metadata only): workers of a
    cluster handle many tiles of the same slides. The overrides and the registration's
    ``scale`` are those of the command's own opening (see :func:`reopen_args`). A dask worker
    keeps the slides' notes to itself: the command that started the work said them when it
    opened the slides (a worker's reach the terminal as raw warning lines)."""
    if _on_a_dask_worker():
        import warnings

        from napari_ifcell.notes import Note

        warnings.simplefilter("ignore", Note)  # for the worker process: its threads share the filters
    return _open_slides(if_path, he_path, offset_um, if_pixel_size_um, he_pixel_size_um, channel_names, scale)


def reopen_args(pair) -> tuple:
    """The arguments of :func:`open_slides_cached` that open ``pair`` again as it is: its
    slides' pixel sizes and channel names (a command's overrides, or what the Loader assumed)
    and its registration, so a worker cuts the same pixels as the command would."""
    return (
        str(pair.if_slide.path),
        str(pair.he_slide.path),
        tuple(pair.registration.offset_um),
        pair.if_slide.pixel_size_um,
        pair.he_slide.pixel_size_um,
        tuple(pair.if_slide.channel_names),
        pair.registration.scale,
    )


def _on_a_dask_worker() -> bool:
    import sys

    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def _open_slides(if_path, he_path, offset_um, if_pixel_size_um, he_pixel_size_um, channel_names, scale=1.0):
    from napari_ifcell.io import open_pair, open_slide

    if he_path:
        pair = open_pair(
            if_path,
            he_path,
            offset_um=offset_um,
            scale=scale,
            if_pixel_size_um=if_pixel_size_um,
            he_pixel_size_um=he_pixel_size_um,
            channel_names=channel_names,
        )
        return pair.if_slide, pair
    return open_slide(if_path, pixel_size_um=if_pixel_size_um, channel_names=channel_names), None


@lru_cache(maxsize=4)
def open_labels_cached(store_folder: str):
    """The level-0 labels of a label store, opened once per process."""
    from napari_ifcell.io.label_store import LabelStore

    return LabelStore.open_labels(store_folder)


def aligned_tiles(
    region: tuple[int, int, int, int], tile: int, grid: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    """``(y, x, h, w)`` tiles covering ``region`` whose edges lie on a grid of ``grid`` (the
    stored chunks' height and width): each chunk falls in one tile, so it is decoded once.
    The tile side is ``tile`` rounded down to whole chunks (at least one)."""
    y, x, h, w = region
    size_y, size_x = (max(g, tile // g * g) for g in grid)
    boxes = []
    for y0 in range(y // size_y * size_y, y + h, size_y):
        for x0 in range(x // size_x * size_x, x + w, size_x):
            top, left = max(y0, y), max(x0, x)
            boxes.append((top, left, min(y0 + size_y, y + h) - top, min(x0 + size_x, x + w) - left))
    return boxes


def region_on_slide(region, shape, slide_name) -> tuple[int, int, int, int]:
    """``region`` (y, x, h, w; None = the whole slide) clipped to the slide, or a ValueError
    naming the slide when it has no pixel on it (it would give thousands of empty tiles)."""
    if region is None:
        return (0, 0, int(shape[0]), int(shape[1]))
    y, x, h, w = (int(v) for v in region)
    y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + h, shape[0]), min(x + w, shape[1])
    if h <= 0 or w <= 0 or y0 >= y1 or x0 >= x1:
        raise ValueError(
            f"{slide_name}: the region y={y} x={x} h={h} w={w} has no pixel on the slide "
            f"({shape[0]} x {shape[1]} px); give y, x, height, width inside it"
        )
    return (y0, x0, y1 - y0, x1 - x0)
