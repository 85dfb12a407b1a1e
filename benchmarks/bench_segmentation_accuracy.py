"""Segmentation accuracy of the CPU backends on the synthetic world, easy and realistic.

For each difficulty a 2048 x 2048 pair (seed 11: not the slide the adaptive method's constants
were chosen on, seed 0) is segmented over the whole slide through the pipeline (tiles, halo,
ownership, label store), once per backend and method, and scored against the exact truth with
one-to-one matches: F1 at IoU 0.5 and 0.7, and megapixels per second (reading and store
included). The baseline is the classic watershed (the default before the adaptive method); the
``custom`` rows run benchmarks/otsu_watershed.py, a 20-line Otsu + distance-transform watershed
brought as a user's function.

Usage: python benchmarks/bench_segmentation_accuracy.py [--data-dir .benchmarks-data] [--size 2048]
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import replace
from pathlib import Path

OTSU = Path(__file__).with_name("otsu_watershed.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data-dir", default=".benchmarks-data")
    args = parser.parse_args()

    from napari_ifcell.core.segment.watershed import WatershedSettings
    from napari_ifcell.io import open_pair
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.pipeline import SegmentSettings, run_to_end, segment_slide
    from napari_ifcell.pipeline.evaluate_segmentation import evaluate_segmentation
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    print(f"{'world':10} {'backend':8} {'method':14} {'F1@0.5':>7} {'F1@0.7':>7} {'MP/s':>6} {'cells':>6}")
    for difficulty in ("easy", "realistic"):
        files = SyntheticPair.in_folder(Path(args.data_dir) / f"accuracy-{difficulty}-{args.size}-seed{args.seed}")
        if not files.exists():
            make_synthetic_pair(files.folder, shape=(args.size, args.size), seed=args.seed, difficulty=difficulty)
        pair = open_pair(files.if_path, files.he_path, offset_um=(0.975, -0.65))
        f1 = {}
        for backend in ("hoechst", "he"):
            for method in ("classic", "adaptive", "otsu (custom)"):
                folder = Path(args.data_dir) / f"accuracy-store-{time.time_ns()}"
                store = LabelStore.create(folder, pair.if_slide.shape, pixel_size_um=0.325)
                if method.startswith("otsu"):
                    image = "nuclear" if backend == "hoechst" else "he"
                    settings = SegmentSettings(backend="custom", model=f"{OTSU}:nuclei", model_input=image)
                else:
                    settings = SegmentSettings(backend=backend, watershed=replace(WatershedSettings(), method=method))
                start = time.perf_counter()
                result = run_to_end(segment_slide(pair.if_slide, store, pair=pair, settings=settings))
                seconds = time.perf_counter() - start
                table = evaluate_segmentation(folder, files.labels_path, ious=(0.5, 0.7)).set_index("iou")
                f1[backend, method] = table.loc[0.5, "f1"]
                print(
                    f"{difficulty:10} {backend:8} {method:14} {table.loc[0.5, 'f1']:7.3f} {table.loc[0.7, 'f1']:7.3f} "
                    f"{args.size**2 / 1e6 / seconds:6.2f} {result.cells:6d}"
                )
                shutil.rmtree(folder)
        for backend in ("hoechst", "he"):
            gain = f1[backend, "adaptive"] / f1[backend, "classic"]
            print(f"{difficulty} {backend}: adaptive F1@0.5 = {gain:.2f}x the classic baseline's")


if __name__ == "__main__":
    main()
