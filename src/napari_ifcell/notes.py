"""Notes: what a user should know about a result that is still usable (a pixel size guessed,
a phenotype rule left out). Raised as warnings of one class, so that the CLI prints each once
after the output and napari shows them as notifications."""

from __future__ import annotations

import threading
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
    """Record the notes this thread raises inside; the list it yields holds each once when the
    block ends (for a widget's status, where no terminal shows warnings). Other warnings, and
    other threads' notes, go on as they came: blocks in several workers at once (a quantify
    running for minutes beside a comparison) keep to their own notes."""
    found: list[str] = []
    try:
        with _recording_into(found):
            yield found
    finally:  # also when the block fails: what was noted before is kept
        found[:] = list(dict.fromkeys(found))


@contextmanager
def _recording_into(target: list[str]) -> Iterator[None]:
    """This thread's notes go to ``target`` inside the block (the innermost block wins)."""
    stack = _collecting.__dict__.setdefault("stack", [])
    stack.append(target)
    _start_recording()
    try:
        yield
    finally:
        del stack[next(i for i in range(len(stack) - 1, -1, -1) if stack[i] is target)]  # by identity
        _stop_recording()


# One hook for every recording block of the process, put in by the first block to start and
# taken out by the last to end: ``warnings.catch_warnings`` saves and restores process-wide
# state, so blocks in two threads, each with its own, ending out of order left warnings going
# to a finished block's list (and never shown again).
_collecting = threading.local()
_lock = threading.Lock()
_recording: dict = {"blocks": 0, "saved": None}


def _start_recording() -> None:
    with _lock:
        if _recording["blocks"] == 0:
            saved = warnings.catch_warnings()
            saved.__enter__()
            warnings.simplefilter("always", Note)
            warnings.showwarning = _hook(warnings.showwarning)
            _recording["saved"] = saved
        _recording["blocks"] += 1


def _stop_recording() -> None:
    with _lock:
        _recording["blocks"] -= 1
        if _recording["blocks"] == 0:
            _recording["saved"].__exit__(None, None, None)
            _recording["saved"] = None


def _hook(show_before):
    def show(message, category, filename, lineno, file=None, line=None):
        stack = getattr(_collecting, "stack", None)
        if issubclass(category, Note) and stack:
            stack[-1].append(str(message))
        else:
            show_before(message, category, filename, lineno, file, line)

    return show


def noting_here(func):
    """``func`` made to record its notes where this thread records them now, in whichever
    thread it runs (work handed to a pool by a block of ``recording_notes``); ``func``
    itself when this thread records none. The block must outlast the work."""
    stack = getattr(_collecting, "stack", None)
    if not stack:
        return func
    target = stack[-1]

    def run(*args, **kwargs):
        with _recording_into(target):
            return func(*args, **kwargs)

    return run


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
