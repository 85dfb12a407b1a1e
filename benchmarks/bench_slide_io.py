"""Slide open and region read on a large synthetic 19-channel slide.

Figures:
- open: wall time and RSS growth of ``open_slide`` (goal < 0.5 s, < 100 MB);
- region read: 19-channel 1024 x 1024 ``Slide.read_region`` time as a ratio to reading the
  same pixels straight from the level-0 zarr array (baseline), aligned and unaligned to
  tiles (goal <= 1.5x); dask (what napari uses) is reported against the same baseline.

Usage: python benchmarks/bench_slide_io.py [--size 16384] [--data-dir .benchmarks-data]
The slide is generated once and reused.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


OPEN_PROBE = """
import sys, time, psutil, gc
import numpy, tifffile, zarr, napari_ifcell.io as io
gc.collect(); rss0 = psutil.Process().memory_info().rss
t0 = time.perf_counter(); slide = io.open_slide(sys.argv[1]); dt = time.perf_counter() - t0
print(dt, (psutil.Process().memory_info().rss - rss0) / 1e6)
"""


def _open_in_fresh_process(path) -> tuple[float, float]:
    """Time and RSS growth of the first open in a new interpreter (libraries imported first)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", OPEN_PROBE, str(path)], capture_output=True, text=True, check=True)
    seconds, megabytes = map(float, out.stdout.split())
    return seconds, megabytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--data-dir", default=".benchmarks-data")
    parser.add_argument("--regions", type=int, default=12)
    args = parser.parse_args()

    from napari_ifcell.io import open_slide
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    files = SyntheticPair.in_folder(Path(args.data_dir) / f"synthetic-{args.size}")
    if not files.exists():
        t0 = time.perf_counter()
        print(f"generating a {args.size} x {args.size} synthetic pair in {files.folder} ...", flush=True)
        make_synthetic_pair(files.folder, shape=(args.size, args.size), seed=0)
        print(f"  generated in {time.perf_counter() - t0:.0f} s", flush=True)
    size_gb = files.if_path.stat().st_size / 1e9

    # --- open -----------------------------------------------------------------------
    open_s, rss_mb = _open_in_fresh_process(files.if_path)
    open_median = timed(lambda: open_slide(files.if_path).close(), 5)
    slide = open_slide(files.if_path)

    # --- region reads -----------------------------------------------------------------
    level0 = slide.levels[0]
    tile = level0.chunks[-1]
    rng = np.random.default_rng(0)
    h, w = slide.shape
    aligned = [
        (int(rng.integers(0, h // tile - 1)) * tile, int(rng.integers(0, w // tile - 1)) * tile)
        for _ in range(args.regions)
    ]
    unaligned = [(int(rng.integers(0, h - 1024)), int(rng.integers(0, w - 1024))) for _ in range(args.regions)]
    dask0 = slide.dask_levels()[0]
    rows = []
    for label, spots in (("tile-aligned", aligned), ("unaligned", unaligned)):
        for y, x in spots:  # warm the page cache so all methods read the same cached bytes
            np.asarray(level0[:, y : y + 1024, x : x + 1024])
        direct = timed(lambda: [level0[:, y : y + 1024, x : x + 1024] for y, x in spots], 3) / len(spots)
        ours = timed(lambda: [slide.read_region(y, x, 1024, 1024) for y, x in spots], 3) / len(spots)
        via_dask = timed(lambda: [dask0[:, y : y + 1024, x : x + 1024].compute() for y, x in spots], 3) / len(spots)
        rows.append((label, direct, ours, via_dask))

    print(
        f"\nslide: {args.size} x {args.size} px, 19 channels uint16, {len(slide.levels)} levels, "
        f"tile {tile}, {size_gb:.2f} GB on disk"
    )
    print(
        f"open: first in a fresh process {open_s * 1e3:.1f} ms, then median of 5 {open_median * 1e3:.1f} ms "
        f"(goal < 500 ms); RSS growth {rss_mb:.1f} MB (goal < 100 MB)"
    )
    print("19-channel 1024 x 1024 read, ms per region (baseline: direct zarr slicing of the same tiles)")
    print(f"{'regions':<14}{'direct zarr':>12}{'read_region':>13}{'ratio':>8}{'dask':>10}{'ratio':>8}")
    for label, direct, ours, via_dask in rows:
        print(
            f"{label:<14}{direct * 1e3:>12.1f}{ours * 1e3:>13.1f}{ours / direct:>7.2f}x"
            f"{via_dask * 1e3:>10.1f}{via_dask / direct:>7.2f}x"
        )
    slide.close()


if __name__ == "__main__":
    main()
