"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # directories cannot be opened on every platform
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# what a label store keeps in its folder beside the project's tables (io.label_store,
# io.store_undo, its write lock): written by the store only, never replaced by an output
LABEL_STORE_FILES = frozenset(
    {"store.json", "labels.zarr", "cell_index.parquet", "pending.json", "undo", "write.lock", "write.holder.json"}
)


def refuse_label_store_file(path: str | Path) -> None:
    """``FileExistsError`` when ``path`` is (or lies inside) one of a label store's own files:
    a table or export written there would destroy the cells every later step reads."""
    path = Path(path).absolute()
    for folder in path.parents:
        if (folder / "store.json").is_file() and path.relative_to(folder).parts[0] in LABEL_STORE_FILES:
            raise FileExistsError(
                f"{path}: one of the label store's own files in {folder}; write to another name "
                "(the store holds the slide's cells)"
            )


def atomic_write(path: str | Path, write, *, label_store_file_ok: bool = False) -> Path:
    """``write(tmp_path)``, fsync, then rename over ``path`` (the temporary file keeps the
    suffix, for writers that choose the format from it); its folder is made if missing. A label
    store's own files are refused (:func:`refuse_label_store_file`) unless the store itself
    writes them."""
    path = Path(path)
    if not label_store_file_ok:
        refuse_label_store_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # an output folder named on the command line
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_text(path: str | Path, text: str, *, label_store_file_ok: bool = False) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"), label_store_file_ok=label_store_file_ok)


def write_npz(path: Path, **arrays) -> None:
    """``np.savez_compressed`` to a path, closing the file before it is synced and renamed."""
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def replace_folder(new: Path, target: Path) -> None:
    """Put a finished folder (an export written beside its target) in place of ``target``; an
    earlier ``target`` is removed only once the new one is there. A label store's own files
    are refused (:func:`refuse_label_store_file`)."""
    refuse_label_store_file(target)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)
