"""The driver's last step of a whole-slide run: the cell table from the tiles' parts.

A run's tiles each give the morphology of the cells they own and their pixels' channel sums
of every cell there (a cell cut by tile borders has rows in several tiles); the driver adds
the sums up per cell and computes the statistics (``pipeline.quantify.table_from_parts``).
Baseline, measured in the same run on the same parts: the pandas way (concatenate the parts,
``groupby("CellID").sum()``, reindex, one frame of all statistics, concatenated beside the
morphology), which is how the driver built the table before. The parts are made up: 19
channels, means and standard deviations, tiles of about 540 cells, 4 % of the cells split over
two tiles (as on the 4096² synthetic slide); the figures depend on their shapes, not values.

Figures: seconds and peak memory above the parts held, for each, and their ratios; the two
tables are checked equal.

Usage: python benchmarks/bench_cell_table.py [--cells 1000000]
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
import pandas as pd

CHANNELS = 19
CELLS_PER_TILE = 540
SPLIT = 0.04
COMPARTMENT_PARTS = {"nucleus": ("nucleus",), "cell": ("nucleus", "ring"), "ring": ("ring",)}


def made_up_parts(n_cells: int, seed: int = 0) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """(morphology, sums) per tile, with the columns ``quantify_tile_parts`` gives."""
    from napari_ifcell.core.quantify.morphology import MORPHOLOGY

    morph_columns = ["Y_centroid", "X_centroid", *MORPHOLOGY.values(), "X_centroid_um", "Y_centroid_um"]
    rng = np.random.default_rng(seed)
    sum_columns = ["count_nucleus", "count_ring"] + [
        f"{kind}_{part}_{c}" for c in range(CHANNELS) for part in ("nucleus", "ring") for kind in ("sum", "sq")
    ]
    parts = []
    for first in range(1, n_cells + 1, CELLS_PER_TILE):
        ids = np.arange(first, min(first + CELLS_PER_TILE, n_cells + 1), dtype=np.int64)
        morph = pd.DataFrame({"CellID": ids, **{c: rng.random(ids.size) for c in morph_columns}})
        # the sums of these cells, and of the next tile's first cells that reach into this one
        shared = np.arange(ids[-1] + 1, ids[-1] + 1 + int(SPLIT * ids.size), dtype=np.int64)
        rows = np.concatenate([ids, shared[shared <= n_cells]])
        counts = rng.integers(20, 400, (2, rows.size))
        sums = {"CellID": rows, "count_nucleus": counts[0], "count_ring": counts[1]}
        for name in sum_columns[2:]:
            sums[name] = rng.integers(0, 2**31, rows.size)
        parts.append((morph, pd.DataFrame(sums)))
    return parts


def pandas_table(parts, names) -> pd.DataFrame:
    """The baseline: the parts' sums added up with pandas' groupby, statistics as whole frames."""
    morph = pd.concat([m for m, _ in parts], ignore_index=True).sort_values("CellID", ignore_index=True)
    frame = pd.concat([s for _, s in parts], ignore_index=True)
    sums = frame.groupby("CellID", sort=True).sum().reindex(morph["CellID"].to_numpy(), fill_value=0)
    columns = {}
    for name, members in COMPARTMENT_PARTS.items():
        count = sum(sums[f"count_{p}"] for p in members)
        columns[f"{name}_area"] = count.to_numpy()
        for c, marker in enumerate(names):
            total = sum(sums[f"sum_{p}_{c}"] for p in members)
            mean = (total / count).where(count > 0)
            variance = sum(sums[f"sq_{p}_{c}"] for p in members) / count - mean**2
            columns[f"{marker}_{name}_mean"] = mean.to_numpy()
            columns[f"{marker}_{name}_std"] = np.sqrt(np.maximum(variance, 0)).to_numpy()
            if name == "cell":
                columns[marker] = mean.to_numpy()
    return pd.concat([morph, pd.DataFrame(columns, index=morph.index)], axis=1)


def _memory(key: str) -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith(key))


def measured(build):
    """(table, seconds, peak MB above the memory held before): the kernel's high-water mark,
    reset first (Linux)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _memory("VmRSS")
    start = time.perf_counter()
    table = build()
    seconds = time.perf_counter() - start
    return table, seconds, _memory("VmHWM") - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    args = parser.parse_args()

    from napari_ifcell.core.quantify.cells import QuantifySettings
    from napari_ifcell.pipeline.quantify import table_from_parts

    names = [f"marker{c}" for c in range(CHANNELS)]
    parts = made_up_parts(args.cells)
    rows = sum(len(s) for _, s in parts)
    held = sum(int(m.memory_usage().sum() + s.memory_usage().sum()) for m, s in parts) / 2**20
    print(
        f"{args.cells:,} cells in {len(parts):,} tiles ({rows:,} rows of sums, {held:,.0f} MB), "
        f"{CHANNELS} channels, mean and std"
    )
    ours, ours_s, ours_mb = measured(lambda: table_from_parts(parts, names, QuantifySettings(), 0.325))
    del ours
    base, base_s, base_mb = measured(lambda: pandas_table(parts, names))
    ours, _, _ = measured(lambda: table_from_parts(parts, names, QuantifySettings(), 0.325))
    pd.testing.assert_frame_equal(ours, base[ours.columns], check_exact=True)
    print(f"tables equal: {ours.shape[0]:,} rows x {ours.shape[1]} columns")
    print(f"pandas groupby (baseline): {base_s:.1f} s, peak {base_mb:,.0f} MB above the parts")
    print(
        f"ours: {ours_s:.1f} s, peak {ours_mb:,.0f} MB -> {base_s / ours_s:.1f}x faster, {base_mb / ours_mb:.1f}x less memory"
    )


if __name__ == "__main__":
    main()
