"""What makes a write to a label store all or nothing: one writer at a time, and an undo log
of the chunk files a write is about to change.

Before a chunk file of any level is first changed in a transaction, it is copied into
``undo/`` (or marked absent); ``pending.json`` says a transaction is open. The commit point is
``store.json`` naming the transaction; after it the undo log is deleted. A store found with
``pending.json`` and no such commit (the writer was killed, or a write failed on a full disk)
gets its chunk files back from the log, so its pixels match its last committed index again.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

from napari_ifcell.io.atomic import atomic_text
from napari_ifcell.io.folder_lock import FolderLock


class LabelStoreLockedError(FileExistsError):
    """Another process (or session) is writing this label store."""


def store_write_lock(folder: Path, purpose: str) -> FolderLock:
    """The store's write lock, held (see ``io.folder_lock``); ``LabelStoreLockedError`` naming
    the holder if another writer has it."""
    lock = FolderLock(folder, "write")
    if not lock.try_acquire(purpose):
        raise LabelStoreLockedError(
            f"{folder}: another process is writing this label store ({lock.holder()}); "
            "wait for it to finish, or give another store folder"
        )
    return lock


def chunk_path(folder: Path, level: int, array, cy: int, cx: int) -> Path:
    """The file of one chunk of a level of the store's zarr group."""
    return Path(folder) / "labels.zarr" / str(level) / array.metadata.encode_chunk_key((cy, cx))


class ChunkUndoLog:
    """The chunk files a transaction changed, as they were before it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.dir = self.folder / "undo"
        self.pending_path = self.folder / "pending.json"
        self.saved: set[tuple[int, int, int]] = set()

    def begin(self, txn: str) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()
        atomic_text(self.pending_path, json.dumps({"txn": txn}), label_store_file_ok=True)
        self.saved.clear()

    def save(self, level: int, array, y0: int, x0: int, y1: int, x1: int) -> None:
        """Copy aside every chunk of ``level`` the box (end exclusive) touches, once each.
        A copy that fails (a full disk) raises before any chunk is changed."""
        ch, cw = array.chunks
        for cy in range(max(y0, 0) // ch, (min(y1, array.shape[0]) + ch - 1) // ch):
            for cx in range(max(x0, 0) // cw, (min(x1, array.shape[1]) + cw - 1) // cw):
                if (level, cy, cx) in self.saved:
                    continue
                source = chunk_path(self.folder, level, array, cy, cx)
                name = f"{level}.{cy}.{cx}"
                if source.exists():
                    tmp = self.dir / f"{name}.partial"
                    shutil.copyfile(source, tmp)
                    os.replace(tmp, self.dir / f"{name}.chunk")
                else:
                    (self.dir / f"{name}.absent").touch()
                self.saved.add((level, cy, cx))

    def roll_back(self, levels) -> int:
        """Put every saved chunk back (chunks absent before are deleted); how many."""
        restored = 0
        for entry in sorted(self.dir.glob("*.*.*.*")):
            level, cy, cx, kind = entry.name.split(".")
            if kind == "partial":
                continue
            target = chunk_path(self.folder, int(level), levels[int(level)], int(cy), int(cx))
            if kind == "chunk":
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry, target)
            else:
                target.unlink(missing_ok=True)
            restored += 1
        return restored

    def finish(self) -> None:
        """Forget the transaction (after its commit, or after a roll-back)."""
        self.pending_path.unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.saved.clear()

    def pending_txn(self) -> str | None:
        if not self.pending_path.is_file():
            return None
        try:
            return str(json.loads(self.pending_path.read_text(encoding="utf-8"))["txn"])
        except (ValueError, KeyError, TypeError):
            return ""  # torn before its first byte was durable: nothing was changed after it


def recover_interrupted_write(folder: Path, levels, meta: dict, index_file: str, partial_index_file: str) -> dict:
    """Finish or undo a transaction a killed or failed writer left open (unless a writer holds
    the store right now); the metadata as it then is."""
    lock = FolderLock(folder, "write")
    if not lock.try_acquire("recovering an interrupted write"):
        return meta  # someone is writing now: theirs to finish
    try:
        undo = ChunkUndoLog(folder)
        partial = folder / partial_index_file
        if meta.get("committed_txn") == undo.pending_txn():  # killed after its commit point
            if partial.is_file():
                os.replace(partial, folder / index_file)
            undo.finish()
            return meta
        restored = undo.roll_back(levels)
        partial.unlink(missing_ok=True)
        undo.finish()
        warnings.warn(
            f"{folder}: a write to this label store was interrupted (killed, or the disk was full); "
            f"its {restored} changed chunk(s) were put back, the cells are as after the last complete write",
            stacklevel=3,
        )
        return meta
    finally:
        lock.release()
