"""Segmentation speed.

1. Our SAM pipeline vs segment_anything's SamAutomaticMaskGenerator on the same 512 x 512
   H&E tile, same model and settings (goal >= 3x faster). On a CPU-only machine the model
   is a small randomly initialised SAM (as in the tests), with thresholds that let a
   realistic share of its masks through; with a checkpoint (--checkpoint) the real one.
2. IF-seeded prompts vs the 64 x 64 grid: decoder prompts per tile, time per tile, and the
   share of true nuclei that get at least one prompt (the upper bound of what SAM can
   recall; mask recall itself needs real weights).
3. CPU backends (Hoechst / H&E watershed): megapixels per second, reading included.
4. With CUDA and a ViT-H checkpoint: ms per 512 tile (goal <= 60 ms).

Usage: python benchmarks/bench_segmentation.py [--data-dir .benchmarks-data] [--checkpoint sam_vit_h.pth]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def timed(fn, repeats=1):
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--data-dir", default=".benchmarks-data")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--grid", type=int, default=64, help="points per side (Immunocto: 64)")
    args = parser.parse_args()

    import torch
    from segment_anything import SamAutomaticMaskGenerator

    from napari_ifcell.core.segment.sam_masks import SamSettings, generate_masks, hoechst_seeds
    from napari_ifcell.io import open_pair, open_slide
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.pipeline import SegmentSettings, run_to_end, segment_region
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    files = SyntheticPair.in_folder(Path(args.data_dir) / f"synthetic-{args.size}")
    if not files.exists():
        make_synthetic_pair(files.folder, shape=(args.size, args.size), seed=0)
    pair = open_pair(files.if_path, files.he_path, offset_um=(0.975, -0.65))
    truth = open_slide(files.labels_path)
    y, x = args.size // 2, args.size // 2
    tile = pair.read_he_aligned(y, x, 512, 512, um_per_px=0.325)
    hoechst = pair.if_slide.read_region(y, x, 512, 512, channels=["Hoechst"])[0]
    true_tile = truth.read_region(y, x, 512, 512)[0]

    if args.checkpoint:
        from napari_ifcell.core.segment.sam_model import load_sam

        model, what = load_sam(args.checkpoint, device="cpu"), "checkpoint " + Path(args.checkpoint).name
        params = dict(pred_iou_thresh=0.81, stability_score_thresh=0.85, box_nms_thresh=0.1)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from sam_fixtures import tiny_sam

        model, what = tiny_sam(), "small random SAM (tests/sam_fixtures.py)"
        with torch.no_grad():
            for mlp in model.mask_decoder.output_hypernetworks_mlps:
                mlp.layers[-1].weight.mul_(50.0)
        params = dict(pred_iou_thresh=0.3, stability_score_thresh=0.7, stability_score_offset=0.1, box_nms_thresh=0.1)
    torch.set_num_threads(2)

    stock = SamAutomaticMaskGenerator(model, points_per_side=args.grid, points_per_batch=64, **params)
    t_stock, stock_masks = timed(lambda: stock.generate(tile))
    ours_settings = SamSettings(points_per_side=args.grid, **params)  # batch size chosen for the device
    t_ours, ours_masks = timed(lambda: generate_masks(model, tile, ours_settings), 2)
    print(f"model: {what}; tile 512 x 512 H&E; {args.grid}x{args.grid} prompt grid; {params}")
    print(
        f"SAM per tile: stock SamAutomaticMaskGenerator {t_stock:.2f} s ({len(stock_masks)} masks), "
        f"ours {t_ours:.2f} s ({len(ours_masks)} masks) -> {t_stock / t_ours:.1f}x faster (goal >= 3x)"
    )

    seeds = hoechst_seeds(hoechst, pixel_size_um=0.325, min_distance_um=ours_settings.seed_min_distance_um)
    t_seeded, _ = timed(lambda: generate_masks(model, tile, ours_settings, points=seeds), 2)
    grid = np.array(tile.shape[:2]) / args.grid
    grid_pts = (np.indices((args.grid, args.grid)).reshape(2, -1).T + 0.5) * grid
    ids = np.unique(true_tile)[1:]

    def prompted(points_yx):
        hit = true_tile[np.clip(points_yx[:, 0].astype(int), 0, 511), np.clip(points_yx[:, 1].astype(int), 0, 511)]
        return np.isin(ids, hit).mean()

    print(
        f"prompts per tile: grid {args.grid**2} (true nuclei prompted {prompted(grid_pts):.3f}, {t_ours:.2f} s) vs "
        f"IF-seeded {len(seeds)} (true nuclei prompted {prompted(seeds[:, ::-1]):.3f}, {t_seeded:.2f} s) "
        f"for {ids.size} true nuclei"
    )

    region = (y - 1024, x - 1024, 2048, 2048)
    for backend in ("hoechst", "he"):
        store = LabelStore.create(
            Path(args.data_dir) / f"bench-store-{backend}-{time.time_ns()}", pair.if_slide.shape, pixel_size_um=0.325
        )
        seconds, result = timed(
            lambda: run_to_end(
                segment_region(
                    pair.if_slide, store, pair=pair, region=region, settings=SegmentSettings(backend=backend)
                )
            )
        )
        print(
            f"CPU backend {backend}: {2048 * 2048 / 1e6 / seconds:.2f} megapixels/s "
            f"({result.cells} cells on 2048 x 2048 px in {seconds:.1f} s, reading and store included)"
        )
        import shutil

        shutil.rmtree(store.folder)

    if torch.cuda.is_available() and args.checkpoint:
        from napari_ifcell.core.segment.sam_model import load_sam

        gpu = load_sam(args.checkpoint, device="cuda")
        generate_masks(gpu, tile, SamSettings())  # warm up
        t_gpu, _ = timed(lambda: generate_masks(gpu, tile, SamSettings()), 5)
        print(f"GPU, {Path(args.checkpoint).name}: {t_gpu * 1e3:.0f} ms per 512 tile (goal <= 60 ms)")
    else:
        print("GPU figure: skipped (needs CUDA and --checkpoint)")


if __name__ == "__main__":
    main()
