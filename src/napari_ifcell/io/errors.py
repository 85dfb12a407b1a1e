"""Errors raised for bad slide files: each names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class SlideError(ValueError):
    """A slide file cannot be used; the message names the file and what was expected."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class SlideMetadataError(SlideError):
    """The file's metadata (axes, channels, pixel size) contradicts its pixels or our needs."""


class SlideReadError(SlideError):
    """Pixel data could not be read (truncated or corrupt tiles)."""


class SlidePairError(SlideError):
    """Two slides given as an IF + H&E pair cannot belong together."""
