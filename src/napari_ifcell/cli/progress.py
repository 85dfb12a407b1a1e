"""Progress on the terminal (stderr), for every long command."""

import sys

_open_line = False  # a progress line is on screen without its newline


def progress(stage, i, n):
    global _open_line
    print(f"\r{stage}: {i}/{n}", end="", file=sys.stderr, flush=True)
    _open_line = True


def end_line() -> None:
    """Finish an open progress line, so what is printed next (an error) starts on its own."""
    global _open_line
    if _open_line:
        print(file=sys.stderr)
        _open_line = False
