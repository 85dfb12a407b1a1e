"""Long work as generators: they yield ``(stage, i, n)`` and return their result."""

from __future__ import annotations

from collections.abc import Callable, Generator


def run_to_end(steps: Generator, progress: Callable[[str, int, int], None] | None = None):
    """Drain a step generator (CLI, tests, scripts); returns its result."""
    while True:
        try:
            stage, i, n = next(steps)
        except StopIteration as stop:
            return stop.value
        if progress:
            progress(stage, i, n)
