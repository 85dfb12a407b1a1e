"""Notes: what a user should know about a result that is still usable (a pixel size guessed,
a phenotype rule left out). Raised as warnings of one class, so that the CLI prints each once
after the output and napari shows them as notifications."""

from __future__ import annotations

import warnings
from collections.abc import Generator, Iterator
from contextlib import contextmanager


class Note(UserWarning):
    """Something was guessed or left out; the message says what and why."""


def note(message: str) -> None:
    warnings.warn(message, Note, stacklevel=3)


def note_messages(caught) -> list[str]:
    """The distinct notes among recorded warnings (``warnings.catch_warnings(record=True)``), in order."""
    return list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, Note)))


@contextmanager
def recording_notes() -> Iterator[list[str]]:
    """Record the notes raised inside; the list it yields holds each once when the block ends
    (for a widget's status, where no terminal shows warnings). Other warnings are raised again
    as they came, not swallowed."""
    found: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Note)
            yield found
    finally:  # also when the block fails: what was noted before is kept
        found.extend(note_messages(caught))
        for w in caught:
            if not issubclass(w.category, Note):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def with_notes(func, *args, **kwargs) -> tuple[object, list[str]]:
    """``func(*args, **kwargs)`` and the notes it raised (for work run in a widget's worker)."""
    with recording_notes() as notes:
        result = func(*args, **kwargs)
    return result, notes


def steps_with_notes(steps) -> Generator:
    """Drive a step generator, passing its steps on; returns ``(result, notes)``."""
    with recording_notes() as notes:
        result = yield from steps
    return result, notes
