"""One writer per folder: an OS file lock (released by the OS if the process dies, so a crash
never leaves a stale lock) and a holder file naming who has it, for the refusal message."""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from napari_ifcell.io.atomic import atomic_text


class FolderLock:
    """``<folder>/<name>.lock`` and ``<name>.holder.json``."""

    def __init__(self, folder: str | Path, name: str):
        self.folder, self.name = Path(folder), name
        self._lock: Any = None

    @property
    def held(self) -> bool:
        return self._lock is not None

    def try_acquire(self, purpose: str) -> bool:
        """Take the lock and record ``purpose`` as its holder; False if someone has it."""
        from filelock import FileLock, Timeout

        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.folder / f"{self.name}.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        self._lock = lock
        holder = {"purpose": purpose, "user": _user(), "host": socket.gethostname(), "pid": os.getpid()}
        holder["since"] = time.strftime("%Y-%m-%d %H:%M:%S")
        atomic_text(self.folder / f"{self.name}.holder.json", json.dumps(holder), label_store_file_ok=True)
        return True

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def holder(self) -> str:
        """Who holds the lock, in words (from the holder file)."""
        try:
            h = self._holder_record()
            return f"{h['purpose']}, user {h['user']} on {h['host']}, process {h['pid']}, since {h['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def held_by_this_process(self) -> bool:
        """Whether the holder file names this process (on this host)."""
        try:
            h = self._holder_record()
            return h.get("pid") == os.getpid() and h.get("host") == socket.gethostname()
        except (OSError, ValueError, AttributeError):
            return False

    def _holder_record(self) -> dict:
        return json.loads((self.folder / f"{self.name}.holder.json").read_text(encoding="utf-8"))


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"
