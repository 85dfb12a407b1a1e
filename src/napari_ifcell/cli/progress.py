"""Progress on the terminal (stderr), for every long command."""

import sys


def progress(stage, i, n):
    print(f"\r{stage}: {i}/{n}", end="", file=sys.stderr, flush=True)
