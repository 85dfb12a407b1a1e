"""Notes: what a user should know about a result that is still usable (a pixel size guessed,
a phenotype rule left out). Raised as warnings of one class, so that the CLI prints each once
after the output and napari shows them as notifications."""

from __future__ import annotations

import warnings


class Note(UserWarning):
    """Something was guessed or left out; the message says what and why."""


def note(message: str) -> None:
    warnings.warn(message, Note, stacklevel=3)
