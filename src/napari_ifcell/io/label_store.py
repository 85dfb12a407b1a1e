"""On-disk label image of a slide's cells, with a cell index, in a project folder.

The label image lives in a chunked zarr group on the slide's grid (uint32, 0 =
background), with 2x nearest-neighbour levels for display; a whole-slide label image never
has to fit in memory and survives restarting napari. The cell index (one row per cell:
id, centroid, bounding box, area, run) is a Parquet file written atomically, and the
next free cell id is kept in the metadata, so ids stay unique across runs.

Writes that change many chunks (segmenting a region, a hand edit) run as a transaction
(:meth:`LabelStore.begin` ... :meth:`LabelStore.commit`, see ``io.store_undo``): one writer at a
time, and a write that is killed or fails (a full disk) leaves the last committed state, put
back the next time the store is opened.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr

from napari_ifcell.io.atomic import atomic_text
from napari_ifcell.io.cell_index import INDEX_COLUMNS, cells_elsewhere, chunk_index_sums, index_from_sums
from napari_ifcell.io.store_undo import ChunkUndoLog, chunk_path, recover_interrupted_write, store_write_lock

CHUNK = 1024
MAX_CELL_ID = int(np.iinfo(np.uint32).max)  # the label image is uint32


INDEX_FILE = "cell_index.parquet"
PARTIAL_INDEX_FILE = f".{INDEX_FILE}.partial"  # written whole, then moved over INDEX_FILE
LEGACY_INDEX_FILE = "cells.parquet"  # version 1 stores; the name is now the project's cell table


@dataclass
class LabelStore:
    """Cells of one slide: ``levels[0]`` is the full-resolution label image."""

    folder: Path
    levels: list
    index: pd.DataFrame
    meta: dict
    _undo: Any = field(default=None, repr=False)  # the ChunkUndoLog of an open transaction
    _lock: Any = field(default=None, repr=False)

    # --- creating and opening --------------------------------------------------------
    @classmethod
    def create(
        cls,
        folder: str | Path,
        shape: tuple[int, int],
        *,
        pixel_size_um: float | None,
        n_levels: int | None = None,
        slide: dict | None = None,
    ) -> LabelStore:
        """A new, empty store; ``slide``: the identity of the slide it belongs to (see
        :func:`slide_identity`), checked whenever the store is opened for a slide."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / "labels.zarr").exists():
            raise FileExistsError(f"{folder}: a label store already exists; open it instead")
        if n_levels is None:
            n_levels, size = 1, max(shape)
            while size > CHUNK:
                size, n_levels = (size + 1) // 2, n_levels + 1
        group = zarr.open_group(folder / "labels.zarr", mode="w")
        h, w = shape
        for level in range(n_levels):
            f = 2**level
            group.create_array(
                str(level),
                shape=((h + f - 1) // f, (w + f - 1) // f),
                chunks=(CHUNK, CHUNK),
                dtype="uint32",
                fill_value=0,
            )
        meta = {
            "format": "napari-ifcell label store",
            "version": 2,
            "shape": [h, w],
            "pixel_size_um": pixel_size_um,
            "next_id": 1,
            "runs": [],
        }
        if slide is not None:
            meta["slide"] = slide
        store = cls(folder, [group[str(i)] for i in range(n_levels)], pd.DataFrame(columns=list(INDEX_COLUMNS)), meta)
        store.commit()
        return store

    @classmethod
    def open(cls, folder: str | Path) -> LabelStore:
        folder = Path(folder)
        meta_path = folder / "store.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{folder}: no label store (missing store.json)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        group = zarr.open_group(folder / "labels.zarr", mode="r+")
        levels = [group[str(i)] for i in range(len(list(group.array_keys())))]
        index_path = folder / INDEX_FILE
        if meta.get("version", 1) == 1 and (folder / LEGACY_INDEX_FILE).is_file() and not index_path.is_file():
            os.replace(folder / LEGACY_INDEX_FILE, index_path)  # a version 1 store: move its index aside
            meta["version"] = 2
            atomic_text(meta_path, json.dumps(meta, indent=2), label_store_file_ok=True)
        if ChunkUndoLog(folder).pending_txn() is not None:
            meta = recover_interrupted_write(folder, levels, meta, INDEX_FILE, PARTIAL_INDEX_FILE)
        store = cls(folder, levels, _read_index(folder), meta)
        store.check_chunks()
        return store

    def check_chunks(self) -> None:
        """Refuse a store whose index holds cells in a chunk file that is gone (read as
        background, they would silently vanish): a cell whose box lies inside one chunk
        needs that chunk's file."""
        idx = self.index
        if not len(idx):
            return
        cy, cx = idx.y0.to_numpy(np.int64) // CHUNK, idx.x0.to_numpy(np.int64) // CHUNK
        inside = ((idx.y1.to_numpy(np.int64) - 1) // CHUNK == cy) & ((idx.x1.to_numpy(np.int64) - 1) // CHUNK == cx)
        needed = pd.DataFrame({"cy": cy[inside], "cx": cx[inside], "CellID": idx.CellID.to_numpy()[inside]})
        for (y, x), cells in needed.groupby(["cy", "cx"]).CellID:
            path = chunk_path(self.folder, 0, self.levels[0], int(y), int(x))
            if not path.is_file():
                raise LabelStoreError(
                    f"{path}: this label chunk is missing but the cell index has {len(cells)} cell(s) in it "
                    f"(ids {cells.head(3).tolist()}...): the store is damaged; restore the folder from a "
                    "backup or segment that region again"
                )

    @staticmethod
    def open_levels(folder: str | Path) -> tuple[list, dict]:
        """Every display level, read-only, and the store's metadata: what an overlay needs (the
        cell index, a million rows on a whole slide, is not read)."""
        folder, meta = Path(folder), LabelStore.recorded(folder)
        if meta is None:
            raise FileNotFoundError(f"{folder}: no label store (missing store.json)")
        group = zarr.open_group(folder / "labels.zarr", mode="r")
        return [group[str(i)] for i in range(len(list(group.array_keys())))], meta

    @staticmethod
    def recorded(folder: str | Path) -> dict | None:
        """What a store folder records (its store.json: shape, pixel size, slide), or None
        where there is no store (a label TIFF, a folder without one)."""
        path = Path(folder) / "store.json"
        return json.loads(path.read_text("utf-8")) if path.is_file() else None

    @staticmethod
    def open_labels(folder: str | Path):
        """Just the level-0 label array, read-only: what a worker quantifying tiles needs
        (no cell index is read)."""
        return zarr.open_group(Path(folder) / "labels.zarr", mode="r")["0"]

    @classmethod
    def open_if_present(cls, folder: str | Path) -> LabelStore | None:
        """The store in ``folder``, or None when there is none (no folder yet, a label TIFF)."""
        return cls.open(folder) if (Path(folder) / "store.json").is_file() else None

    @classmethod
    def open_or_create(cls, folder, shape, *, pixel_size_um, slide: dict | None = None) -> LabelStore:
        """The store in ``folder`` (created if absent), refused if it belongs to another slide."""
        folder = Path(folder)
        if (folder / "store.json").is_file():
            store = cls.open(folder)
            store.require_shape(shape, "the slide")
            if slide is not None:
                store.check_slide(slide)
            return store
        return cls.create(folder, shape, pixel_size_um=pixel_size_um, slide=slide)

    def require_shape(self, shape, slide_name: str) -> None:
        """Refuse a slide whose level 0 is not this store's shape (``slide_name`` for the message)."""
        if tuple(self.shape) != tuple(shape):
            raise ValueError(f"{self.folder}: the label store is {self.shape} px but {slide_name} is {tuple(shape)} px")

    def check_slide(self, slide: dict) -> None:
        """Refuse a slide other than the one the store was made for; a store made before
        stores recorded their slide adopts this one."""
        recorded = self.meta.get("slide")
        if recorded is None:
            self.meta["slide"] = slide
            atomic_text(self.folder / "store.json", json.dumps(self.meta, indent=2), label_store_file_ok=True)
            return
        if recorded.get("fingerprint") != slide.get("fingerprint"):
            h, w = recorded.get("shape") or ("?", "?")
            other = slide.get("name")
            if recorded.get("name") == other:  # the same name: the file was rewritten or replaced
                other = f"the {other} there now (its pixels or metadata differ)"
            raise FileExistsError(
                f"{self.folder}: this label store holds the cells of {recorded.get('name')} "
                f"({h} x {w} px), not of {other}; "
                "give another label store folder (or label image) or move this one away"
            )

    def require_cells(self, cells, table_name, *, what: str = "the table") -> None:
        """Refuse cells that are not this store's: a table quantified from another segmentation
        would be shown, reviewed or exported against the wrong outlines. ``cells``: their ids, or
        a table whose centroids are checked too (a label image imported since may reuse its ids).
        An empty store (nothing segmented) checks nothing."""
        if not len(self.index):
            return
        table = cells if isinstance(cells, pd.DataFrame) else None
        ids = pd.Series(np.asarray(cells["CellID"] if table is not None else cells, np.int64))
        unknown = ~ids.isin(self.index["CellID"])
        if unknown.any():
            raise ValueError(
                f"{table_name}: {int(unknown.sum())} of {len(ids)} cells (CellID {int(ids[unknown].iloc[0])}, ...) "
                f"are not in the label store {self.folder}: {what} is of another segmentation "
                "(segmenting again gives cells new ids); quantify again from this store"
            )
        if table is None:
            return
        checked, elsewhere = cells_elsewhere(self.index, table)
        if checked and len(elsewhere) > checked / 2:  # a few moved by hand edits are not another segmentation
            first = elsewhere.iloc[0]
            raise ValueError(
                f"{table_name}: {len(elsewhere)} of {checked} cells checked lie elsewhere in the label store "
                f"{self.folder} (CellID {int(first.CellID)}: x {first.X_centroid:.0f}, y {first.Y_centroid:.0f} px "
                f"in the table, x {first.X_centroid_store:.0f}, y {first.Y_centroid_store:.0f} in the store): {what} "
                "is of another segmentation whose ids the store's cells reuse (or its centroids are not in pixels); "
                "quantify again from this store"
            )

    @property
    def slide_name(self) -> str | None:
        return (self.meta.get("slide") or {}).get("name")

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.levels[0].shape)

    # --- reading -----------------------------------------------------------------------
    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """Level-0 labels of a window; outside the slide is 0."""
        return read_window(self.levels[0], y, x, h, w)

    # --- writing -----------------------------------------------------------------------
    def new_ids(self, n: int) -> np.ndarray:
        """``n`` cell ids never used before in this store."""
        first = int(self.meta["next_id"])
        if first + n - 1 > MAX_CELL_ID:  # they would wrap
            raise LabelStoreError(
                f"{self.folder}: {n} new cell ids would pass {MAX_CELL_ID}, the largest this store holds "
                f"(next id {first}); segment into a new store"
            )
        self.meta["next_id"] = first + n
        return np.arange(first, first + n, dtype=np.int64)

    def clear_cells(self, region: tuple[int, int, int, int]) -> np.ndarray:
        """Remove the cells whose centroid lies in ``region`` (their whole extent); their ids."""
        y, x, h, w = region
        idx = self.index
        gone = idx[(idx.Y_centroid >= y) & (idx.Y_centroid < y + h) & (idx.X_centroid >= x) & (idx.X_centroid < x + w)]
        if len(gone) == 0:
            return np.zeros(0, np.int64)
        ids = gone.CellID.to_numpy()
        by0, bx0 = int(gone.y0.min()), int(gone.x0.min())
        by1, bx1 = int(gone.y1.max()), int(gone.x1.max())
        for wy in range(by0, by1, CHUNK):  # one chunk-sized window at a time: bounded memory
            for wx in range(bx0, bx1, CHUNK):
                wy1, wx1 = min(wy + CHUNK, by1), min(wx + CHUNK, bx1)
                window = np.asarray(self.levels[0][wy:wy1, wx:wx1])
                hit = np.isin(window, ids)
                if hit.any():
                    window[hit] = 0
                    self._before_write(0, wy, wx, wy1, wx1)
                    self.levels[0][wy:wy1, wx:wx1] = window
                    self._update_levels(wy, wx, wy1, wx1, window)
        self.index = idx.drop(gone.index).reset_index(drop=True)
        return gone.CellID.to_numpy()

    def paint(self, labels: np.ndarray, origin: tuple[int, int], run: int) -> int:
        """Write a tile's new cells (label image with ids from :meth:`new_ids`) where the
        store is empty, and index them. Returns the number of cells written."""
        y, x = origin
        h, w = labels.shape
        y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + h, self.shape[0]), min(x + w, self.shape[1])
        if y0 >= y1 or x0 >= x1 or not labels.any():
            return 0
        new = labels[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.uint32)
        current = np.asarray(self.levels[0][y0:y1, x0:x1])
        merged = np.where(current == 0, new, current)
        self._before_write(0, y0, x0, y1, x1)
        self.levels[0][y0:y1, x0:x1] = merged
        self._update_levels(y0, x0, y1, x1, merged)
        written = np.where(current == 0, new, 0)
        if not written.any():
            return 0
        return self._index_rows(written, (y0, x0), run)

    def write_window(self, labels: np.ndarray, origin: tuple[int, int], cells) -> None:
        """Overwrite a level-0 window (hand edits) and re-index ``cells``: the ids whose pixels
        changed. Cells left without pixels leave the index."""
        y, x = origin
        h, w = labels.shape
        old = self.index[self.index.CellID.isin(np.asarray(cells, np.int64))]
        self._overwrite(labels, origin)
        by0, bx0 = min([y, *old.y0.astype(int)]), min([x, *old.x0.astype(int)])
        by1, bx1 = max([y + h, *old.y1.astype(int)]), max([x + w, *old.x1.astype(int)])
        self.index = self.index.drop(old.index)
        window = self.read(by0, bx0, by1 - by0, bx1 - bx0)
        window = np.where(np.isin(window, np.asarray(cells, np.int64)), window, 0)
        if window.any():
            run = int(old.run.max()) if len(old) else len(self.meta["runs"])
            self._index_rows(window, (by0, bx0), run)
        self.index = self.index.reset_index(drop=True)

    def write_cells(self, labels: np.ndarray, origin: tuple[int, int]) -> pd.DataFrame:
        """Overwrite a level-0 window with cells that keep their ids (another tool's labels),
        without indexing them: returns their partial index sums, which
        ``io.cell_index.index_from_sums`` adds up once every window is written."""
        return chunk_index_sums(self._overwrite(labels, origin), origin)

    def _overwrite(self, labels: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        """Write a level-0 window as given (ids kept: they never come back from :meth:`new_ids`)
        and its display levels; the pixels written."""
        y, x = origin
        h, w = labels.shape
        painted = labels.astype(np.uint32)
        self._before_write(0, y, x, y + h, x + w)
        self.levels[0][y : y + h, x : x + w] = painted
        if painted.size:
            self.meta["next_id"] = max(int(self.meta["next_id"]), int(painted.max()) + 1)
        self._update_levels(y, x, y + h, x + w, painted)
        return painted

    def _index_rows(self, written: np.ndarray, origin: tuple[int, int], run: int) -> int:
        rows = index_from_sums([chunk_index_sums(written, origin)], run)
        self.index = pd.concat([self.index, rows], ignore_index=True) if len(self.index) else rows
        return len(rows)

    def _update_levels(self, y0, x0, y1, x1, window: np.ndarray | None = None) -> None:
        """Refresh the coarser display levels over a level-0 box (nearest neighbour: level k's
        pixel (i, j) is level 0's (i * 2^k, j * 2^k)). ``window``: the box's new level-0 pixels,
        which saves reading them back."""
        for level in range(1, len(self.levels)):
            f = 2**level
            shape = self.levels[level].shape
            # only the coarse pixels whose level-0 sample lies in the box change
            ly0, lx0 = -(-y0 // f), -(-x0 // f)
            ly1, lx1 = min(-(-y1 // f), shape[0]), min(-(-x1 // f), shape[1])
            if ly0 >= ly1 or lx0 >= lx1:
                continue
            if window is None:
                values = self.levels[0][ly0 * f : ly1 * f : f, lx0 * f : lx1 * f : f]
            else:
                values = window[ly0 * f - y0 :: f, lx0 * f - x0 :: f][: ly1 - ly0, : lx1 - lx0]
            self._before_write(level, ly0, lx0, ly1, lx1)
            self.levels[level][ly0:ly1, lx0:lx1] = values

    def start_run(self, settings: dict) -> int:
        run = len(self.meta["runs"]) + 1
        self.meta["runs"].append({"run": run, "settings": settings})
        return run

    # --- transactions ------------------------------------------------------------------
    def begin(self, purpose: str) -> None:
        """Start an all-or-nothing write: take the store's write lock (or raise
        ``LabelStoreLockedError`` naming its holder) and log chunks before they change."""
        if self._undo is not None:
            raise RuntimeError(f"{self.folder}: a write is already under way in this store")
        lock = store_write_lock(self.folder, purpose)
        undo = ChunkUndoLog(self.folder)
        try:
            undo.begin(uuid.uuid4().hex)
        except BaseException:
            lock.release()
            raise
        self._lock, self._undo = lock, undo

    def _before_write(self, level: int, y0: int, x0: int, y1: int, x1: int) -> None:
        if self._undo is not None:
            self._undo.save(level, self.levels[level], y0, x0, y1, x1)

    def roll_back(self) -> None:
        """Undo the open transaction: chunks, index and metadata as at :meth:`begin`."""
        if self._undo is None:
            return
        try:
            self._undo.roll_back(self.levels)
            self._undo.finish()
            self.meta = json.loads((self.folder / "store.json").read_text(encoding="utf-8"))
            self.index = _read_index(self.folder)
        finally:
            self._end()

    def commit(self) -> None:
        """Write the index and metadata atomically (labels are written as tiles finish). In a
        transaction, ``store.json`` naming it is the commit point; then the undo log goes."""
        tmp = self.folder / PARTIAL_INDEX_FILE
        self.index.astype({"CellID": "int64"}).to_parquet(tmp, index=False)
        if self._undo is None:
            os.replace(tmp, self.folder / INDEX_FILE)
            atomic_text(self.folder / "store.json", json.dumps(self.meta, indent=2), label_store_file_ok=True)
            return
        try:
            self.meta["committed_txn"] = self._undo.pending_txn()
            atomic_text(self.folder / "store.json", json.dumps(self.meta, indent=2), label_store_file_ok=True)
            os.replace(tmp, self.folder / INDEX_FILE)
            self._undo.finish()
        finally:
            self._end()

    def _end(self) -> None:
        self._undo = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def require_store_cells(labels, cells, table_name, *, what: str = "the table") -> None:
    """Where ``labels`` is a label store (open, or its folder; not a label TIFF, an array or a
    reader), refuse cells (ids, or a table) that are not its own (see :meth:`LabelStore.require_cells`)."""
    store = labels if isinstance(labels, LabelStore) else None
    if isinstance(labels, str | Path):
        store = LabelStore.open_if_present(labels)
    if store is not None:
        store.require_cells(cells, table_name, what=what)


def _read_index(folder: Path) -> pd.DataFrame:
    path = folder / INDEX_FILE
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=list(INDEX_COLUMNS))


class LabelStoreError(ValueError):
    """A label store that cannot be used as it is; names the file and what is wrong."""


def read_window(level, y: int, x: int, h: int, w: int) -> np.ndarray:
    """A window of a 2-D label array; outside the array is 0."""
    out = np.zeros((h, w), level.dtype)
    y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + h, level.shape[0]), min(x + w, level.shape[1])
    if y0 < y1 and x0 < x1:
        out[y0 - y : y1 - y, x0 - x : x1 - x] = level[y0:y1, x0:x1]
    return out


def slide_identity(slide) -> dict:
    """What a store records of its slide: the file name, level-0 shape and a cheap fingerprint."""
    return {"name": Path(slide.path).name, "shape": list(slide.shape), "fingerprint": slide.fingerprint()}
