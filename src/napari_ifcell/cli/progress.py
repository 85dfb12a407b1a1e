"""Progress on the terminal (stderr), for every long command. On a terminal one line is
rewritten in place; into a log file (no terminal) a line is written at every tenth of the work."""

import sys

_open_line = False  # a progress line is on screen without its newline
_last_tenth: dict[str, int] = {}  # per stage, the last tenth logged when stderr is not a terminal


def progress(stage, i, n):
    global _open_line
    if getattr(sys.stderr, "isatty", lambda: False)():  # a replaced stream may have no isatty
        print(f"\r{stage}: {i}/{n}", end="", file=sys.stderr, flush=True)
        _open_line = True
        return
    tenth = 10 * i // max(n, 1)
    if i in (1, n) or tenth != _last_tenth.get(stage):
        print(f"{stage}: {i}/{n}", file=sys.stderr, flush=True)
    _last_tenth[stage] = -1 if i == n else tenth  # a stage run again logs afresh


def end_line() -> None:
    """Finish an open progress line, so what is printed next (an error) starts on its own."""
    global _open_line
    if _open_line:
        print(file=sys.stderr)
        _open_line = False
