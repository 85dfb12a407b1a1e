"""Review files in a slide's project folder, written so that no acknowledged edit is lost.

``<slide>.ifcell/review/``:
- ``initial.parquet``: the cells and their automatic labels when the review began (written once);
- ``journal.jsonl``: one JSON event per line, written whole with one unbuffered write and
  fsynced before an edit is acknowledged; a write that fails (a full disk) is cut back off
  the file, and a torn last line (the process died mid-write, before acknowledging) is dropped;
- ``session.lock`` / ``session.holder.json``: one editing session per project at a time (an
  OS file lock, released by the OS if the process dies; the holder file names who has it);
- ``edits/<seq>.npz`` / ``.parquet``: label pixels and cell-table rows before and after a
  mask edit, fsynced before their journal line;
- ``state.parquet``: the materialised review table, replaced atomically (for readers; the
  journal stays the source of truth).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.io.atomic import atomic_write, write_npz
from napari_ifcell.io.folder_lock import FolderLock
from napari_ifcell.io.project import Project


class ReviewFileError(ValueError):
    """A review folder that cannot be used; names the file and the problem."""


class ReviewLockedError(ReviewFileError):
    """Another review session is editing this project."""


class ReviewFiles:
    """The review folder of one project."""

    def __init__(self, project: str | Path):
        self.folder = Project.at(project).review
        self.journal_path = self.folder / "journal.jsonl"
        self.initial_path = self.folder / "initial.parquet"
        self.state_path = self.folder / "state.parquet"
        self.edits = self.folder / "edits"
        self._journal: int | None = None  # an O_APPEND file descriptor
        self._lock: FolderLock | None = None

    def exists(self) -> bool:
        return self.initial_path.is_file()

    def create(self, initial: pd.DataFrame, meta: dict) -> None:
        if self.exists():
            raise FileExistsError(f"{self.folder}: a review already exists; open it instead")
        self.edits.mkdir(parents=True, exist_ok=True)
        atomic_write(self.folder / "meta.json", lambda p: p.write_text(json.dumps(meta, indent=1), encoding="utf-8"))
        atomic_write(self.initial_path, lambda p: initial.to_parquet(p, index=False))

    def meta(self) -> dict:
        return json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))

    def initial(self) -> pd.DataFrame:
        try:
            return pd.read_parquet(self.initial_path)
        except Exception as exc:  # noqa: BLE001
            raise ReviewFileError(f"{self.initial_path}: unreadable ({exc})") from None

    # --- journal -------------------------------------------------------------------------------
    def read_journal(self) -> list[dict]:
        """Every complete event; a torn final line is cut off the file."""
        if not self.journal_path.exists():
            return []
        raw = self.journal_path.read_bytes()
        events, good_end = [], 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                events.append(json.loads(line))
            except ValueError:
                if good_end + len(line) < len(raw):
                    raise ReviewFileError(
                        f"{self.journal_path}: line {len(events) + 1} is not JSON; the journal is damaged"
                    ) from None
                break
            good_end += len(line)
        if good_end < len(raw):
            with open(self.journal_path, "rb+") as f:
                f.truncate(good_end)
                os.fsync(f.fileno())
        return events

    def append(self, event: dict) -> None:
        """Append one event and make it durable before returning. The line goes out in one
        unbuffered write; if that or the fsync fails (a full disk), the file is cut back to
        where it was, so an edit that raised never comes back on reopen."""
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode("utf-8")
        if self._journal is None:
            self._journal = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(self._journal).st_size
        try:
            written = os.write(self._journal, line)
            if written != len(line):
                raise OSError(f"{self.journal_path}: only {written} of {len(line)} bytes written (disk full?)")
            os.fsync(self._journal)
        except OSError:
            os.ftruncate(self._journal, size)
            raise

    def close(self) -> None:
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None
        self.unlock()

    # --- one editing session at a time ------------------------------------------------------------
    def lock(self, reviewer: str) -> None:
        """Hold this project's review for editing, or raise :class:`ReviewLockedError` naming
        who holds it. The OS lock goes with the process, so a crashed session never blocks."""
        lock = FolderLock(self.folder, "session")
        if not lock.try_acquire(repr(reviewer)):
            raise ReviewLockedError(
                f"{self.folder}: this review is open in another session ({lock.holder()}); "
                "close it there first: two sessions editing one review would lose each other's edits"
            )
        self._lock = lock

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def locked(self) -> bool:
        return self._lock is not None

    # --- mask edit artefacts ---------------------------------------------------------------------
    def write_edit(
        self,
        seq: int,
        window: tuple[int, int],
        before: np.ndarray,
        after: np.ndarray,
        rows_before: pd.DataFrame,
        rows_after: pd.DataFrame,
    ) -> str:
        name = f"{seq:08d}"
        self.edits.mkdir(parents=True, exist_ok=True)
        atomic_write(
            self.edits / f"{name}.npz", lambda p: write_npz(p, origin=np.asarray(window), before=before, after=after)
        )
        rows = pd.concat([rows_before.assign(_when="before"), rows_after.assign(_when="after")], ignore_index=True)
        atomic_write(self.edits / f"{name}.parquet", lambda p: rows.to_parquet(p, index=False))
        return name

    def read_edit(self, name: str):
        """``(origin, before, after, rows_before, rows_after)`` of a mask edit."""
        with np.load(self.edits / f"{name}.npz") as z:
            origin, before, after = tuple(z["origin"].tolist()), z["before"], z["after"]
        rows = pd.read_parquet(self.edits / f"{name}.parquet")
        split = rows.pop("_when")
        return (
            origin,
            before,
            after,
            rows[split == "before"].reset_index(drop=True),
            rows[split == "after"].reset_index(drop=True),
        )

    def write_state(self, table: pd.DataFrame) -> Path:
        return atomic_write(self.state_path, lambda p: table.to_parquet(p, index=False))
