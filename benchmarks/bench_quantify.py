"""Quantification speed: our one-pass statistics vs regionprops_table once per channel.

MCMICRO's quantification calls ``skimage.measure.regionprops_table`` once per channel and
mask; that is the baseline. Both sides get the same tiles (read once, not timed) and the same
compartment label images (nucleus, cell = nucleus + 5 px, ring), so the first ratio is the cost
of the per-channel intensity statistics (goal >= 50x faster).
End to end per cell, mcquant-style is those regionprops calls plus ``regionprops_table`` for
the morphology, against our statistics plus our vectorised morphology (goal >= 15x). Each side
builds its own compartment label images: the baseline with skimage's ``expand_labels``, ours
with ``grow_labels`` (the same images, checked equal); the ratio is also printed with ours
counted on both sides.

Usage: python benchmarks/bench_quantify.py [--size 16384] [--region 10240] [--data-dir .benchmarks-data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384, help="synthetic slide size (generated once)")
    parser.add_argument("--region", type=int, default=10240, help="side of the square region quantified")
    parser.add_argument("--data-dir", default=".benchmarks-data")
    args = parser.parse_args()

    from skimage.measure import regionprops_table
    from skimage.segmentation import expand_labels

    from napari_ifcell.core.quantify.cells import QuantifySettings, compartment_labels, compartment_statistics
    from napari_ifcell.core.quantify.morphology import MORPHOLOGY, morphology
    from napari_ifcell.io import open_slide
    from napari_ifcell.pipeline import read_labels, tiles
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    files = SyntheticPair.in_folder(Path(args.data_dir) / f"synthetic-{args.size}")
    if not files.exists():
        make_synthetic_pair(files.folder, shape=(args.size, args.size), seed=0)
    settings = QuantifySettings()
    if_slide, labels_slide = open_slide(files.if_path), open_slide(files.labels_path)
    y0 = x0 = (args.size - args.region) // 2
    halo = settings.halo + settings.expand_px(if_slide.pixel_size_um)
    n_channels = if_slide.n_channels
    import scipy.sparse  # noqa: F401 - imported before timing

    totals = {"read": 0.0, "compartments": 0.0, "morphology": 0.0, "ours": 0.0, "regionprops": 0.0}
    totals["regionprops morphology"] = totals["expand_labels"] = 0.0
    n_cells = 0
    for ty, tx, th, tw in tiles((y0, x0, args.region, args.region), settings.tile):
        window = (ty - halo, tx - halo, th + 2 * halo, tw + 2 * halo)
        t = time.perf_counter()
        nuclei = read_labels(labels_slide, *window).astype(np.int32)
        image = if_slide.read_region(*window)
        totals["read"] += time.perf_counter() - t

        t = time.perf_counter()
        compartments = compartment_labels(nuclei, settings.expand_px(if_slide.pixel_size_um))
        totals["compartments"] += time.perf_counter() - t
        t = time.perf_counter()
        expanded = expand_labels(nuclei, settings.expand_px(if_slide.pixel_size_um))
        totals["expand_labels"] += time.perf_counter() - t
        np.testing.assert_array_equal(expanded, compartments["cell"])
        t = time.perf_counter()
        morph = morphology(nuclei)
        totals["morphology"] += time.perf_counter() - t
        ids = morph["CellID"].to_numpy()
        n_cells += int(
            (
                (morph.Y_centroid >= halo)
                & (morph.Y_centroid < halo + th)
                & (morph.X_centroid >= halo)
                & (morph.X_centroid < halo + tw)
            ).sum()
        )

        t = time.perf_counter()
        regionprops_table(nuclei, properties=("label", "centroid", *MORPHOLOGY))  # mcquant's morphology
        totals["regionprops morphology"] += time.perf_counter() - t

        t = time.perf_counter()
        ours = compartment_statistics(nuclei, compartments["cell"], image, ids, statistics=("mean",))
        totals["ours"] += time.perf_counter() - t

        t = time.perf_counter()
        baseline = {}
        for name, lab in compartments.items():
            columns = [
                regionprops_table(lab, intensity_image=image[c], properties=("label", "intensity_mean"))[
                    "intensity_mean"
                ]
                for c in range(n_channels)
            ]
            baseline[name] = np.column_stack(columns)
        totals["regionprops"] += time.perf_counter() - t
        # same numbers on both sides (regionprops drops labels absent from a compartment)
        np.testing.assert_allclose(ours["nucleus"]["mean"], baseline["nucleus"], rtol=1e-12)

    compartments = totals["compartments"]
    ours_total = totals["ours"] + totals["morphology"] + compartments
    baseline_measures = totals["regionprops"] + totals["regionprops morphology"]
    baseline_total = baseline_measures + totals["expand_labels"]
    print(
        f"region {args.region} x {args.region} px, {n_channels} channels, {n_cells} cells, "
        f"3 compartments, tiles of {settings.tile} px (+{halo} px halo)"
    )
    print(f"reading tiles (not in the ratios): {totals['read']:.1f} s")
    print(
        f"per-channel intensity means: ours {totals['ours']:.2f} s vs regionprops_table per channel "
        f"{totals['regionprops']:.1f} s -> {totals['regionprops'] / totals['ours']:.0f}x faster (goal >= 50x)"
    )
    print(
        f"morphology: ours (vectorised) {totals['morphology']:.2f} s vs regionprops_table "
        f"{totals['regionprops morphology']:.1f} s -> {totals['regionprops morphology'] / totals['morphology']:.1f}x"
    )
    print(
        f"compartment images: ours (grow_labels) {compartments:.2f} s vs expand_labels "
        f"{totals['expand_labels']:.2f} s -> {totals['expand_labels'] / compartments:.2f}x"
    )
    print(
        f"end to end per cell: ours {ours_total:.1f} s vs mcquant-style {baseline_total:.1f} s -> "
        f"{baseline_total / ours_total:.1f}x (goal >= 15x); with our compartment images on both sides "
        f"{(baseline_measures + compartments) / ours_total:.1f}x"
    )
    print(f"morphology columns: {', '.join(MORPHOLOGY.values())}")


if __name__ == "__main__":
    main()
