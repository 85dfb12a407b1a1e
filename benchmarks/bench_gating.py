"""Live gating on a million cells: time from a threshold change to updated states,
phenotypes, histogram, counts and the per-cell colour lookup.

Baseline: applying the gates to the cell table from scratch (``gated_table``, what a
script or a non-incremental tool does on every change). Goal: <= 50 ms per change.

Usage: python benchmarks/bench_gating.py [--cells 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

MARKERS = ["CD45", "CD3e", "CD4", "CD8a", "FOXP3", "CD20", "CD68", "CD163", "Pan-CK", "SMA"]
# cell type -> positive markers (Orion-like panel)
TYPES = {
    "tumour": ["Pan-CK"],
    "stromal": ["SMA"],
    "CD4 T": ["CD45", "CD3e", "CD4"],
    "CD8 T": ["CD45", "CD3e", "CD8a"],
    "regulatory T": ["CD45", "CD3e", "CD4", "FOXP3"],
    "B": ["CD45", "CD20"],
    "macrophage": ["CD45", "CD68", "CD163"],
}
FREQUENCIES = [0.45, 0.25, 0.08, 0.08, 0.02, 0.06, 0.06]


def synthetic_table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    types = rng.choice(len(TYPES), size=n, p=FREQUENCIES)
    table = {
        "CellID": np.arange(1, n + 1),
        "X_centroid": rng.uniform(0, 80000, n),
        "Y_centroid": rng.uniform(0, 50000, n),
    }
    for marker in MARKERS:
        positive = np.isin(types, [i for i, markers in enumerate(TYPES.values()) if marker in markers])
        table[f"{marker}_cell_mean"] = np.where(
            positive, rng.lognormal(np.log(6000), 0.3, n), rng.lognormal(np.log(600), 0.15, n)
        )
    return pd.DataFrame(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--moves", type=int, default=20)
    args = parser.parse_args()

    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.core.gating.session import GatingSession

    table = synthetic_table(args.cells)
    t = time.perf_counter()
    gates, suggestions = suggested_gateset(table, markers=MARKERS)
    suggest_s = time.perf_counter() - t
    t = time.perf_counter()
    session = GatingSession(table, gates, suggestions=suggestions)
    start_s = time.perf_counter() - t
    lut = session.label_lookup("phenotype")

    marker = "CD3e"
    base = np.array(gates.gates[marker].thresholds)
    ours = []
    for i in range(args.moves):
        thresholds = base * (1 + 0.01 * (i % 5))  # a drag: small successive moves
        t = time.perf_counter()
        session.set_thresholds(marker, thresholds)
        session.histogram(marker)
        session.state_counts(marker)
        session.phenotype_counts()
        session.label_lookup("phenotype", out=lut)
        ours.append(time.perf_counter() - t)
    baseline = []
    for i in range(3):
        t = time.perf_counter()
        gated_table(table, session.gates)
        baseline.append(time.perf_counter() - t)
    ours_ms, base_ms = statistics.median(ours) * 1e3, statistics.median(baseline) * 1e3
    print(f"{args.cells} cells, {len(MARKERS)} gated markers, {len(gates.phenotypes)} phenotype rules")
    print(
        f"suggested gates (GMM, 100k-cell sample per marker): {suggest_s:.1f} s; session start: {start_s * 1e3:.0f} ms"
    )
    print(
        f"threshold change -> states + hierarchy + phenotypes + histogram + counts + colour lookup: "
        f"median {ours_ms:.1f} ms, max {max(ours) * 1e3:.1f} ms (goal <= 50 ms)"
    )
    print(
        f"baseline, gates applied to the table from scratch (gated_table): {base_ms:.0f} ms "
        f"-> {base_ms / ours_ms:.1f}x faster"
    )


if __name__ == "__main__":
    main()
