"""Tiles computed in threads of this process. A tile's work (numpy, scipy.ndimage,
scikit-image's watershed, the decoding of its chunks) runs mostly outside Python's global
lock, so tiles in a few threads use the machine's cores without a cluster: segmenting and
quantifying in napari and from the CLI, and ``run --in-process``. Results come back in the
tiles' order, so cell ids and tables are the same as one tile at a time."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

from napari_ifcell.notes import noting_here

THREADS_VARIABLE = "NAPARI_IFCELL_THREADS"
MAX_THREADS = 8  # a quantification tile in work holds a few hundred MB
Item = TypeVar("Item")
Result = TypeVar("Result")


def tile_threads() -> int:
    """Threads for tiles: ``NAPARI_IFCELL_THREADS`` if set, else the cores this process may
    use, at most ``MAX_THREADS``."""
    given = os.environ.get(THREADS_VARIABLE, "").strip()
    if given:
        if not (given.isascii() and given.isdigit()) or int(given) < 1:
            raise ValueError(f"{THREADS_VARIABLE}={given!r}: expected a whole number of threads, 1 or more")
        return int(given)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def in_order(func: Callable[[Item], Result], items: Iterable[Item], threads: int | None = None) -> Iterator[Result]:
    """``func(item)`` for each item, in order, up to ``threads`` (default ``tile_threads()``)
    at once. Closing the iterator early drops the tiles not started and waits for those
    running, so nothing runs on after it; a tile's error is raised in its turn."""
    threads = tile_threads() if threads is None else threads
    items = iter(items)
    if threads <= 1:
        yield from map(func, items)
        return
    work = noting_here(func)
    with ThreadPoolExecutor(threads, thread_name_prefix="ifcell-tile") as pool:
        queued = deque(pool.submit(work, item) for item in islice(items, 2 * threads))
        try:
            while queued:
                result = queued.popleft().result()
                queued.extend(pool.submit(work, item) for item in islice(items, 1))
                yield result
        finally:
            for future in queued:
                future.cancel()
