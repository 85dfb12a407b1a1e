"""CLI commands about slides: info, pyramid, synth, demo."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path


def _info(args) -> int:
    from napari_ifcell.cli.options import open_slides_from_args

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        slide, _ = open_slides_from_args(args, args.path)
    with slide:
        summary = {
            "path": str(slide.path),
            "kind": "rgb" if slide.is_rgb else "fluorescence",
            "layout": slide.layout,
            "dtype": str(slide.dtype),
            "pixel_size_um": slide.pixel_size_um,
            "channels": list(slide.channel_names),
            "levels": [
                {"level": i, "height": h, "width": w, "downsample": round(d, 3)}
                for i, ((h, w), d) in enumerate(zip(slide.level_shapes, slide.downsamples))
            ],
            "notes": slide.notes,
        }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    ps = f"{slide.pixel_size_um:.6g} µm/px" if slide.pixel_size_um else "unknown (give --pixel-size)"
    print(f"{slide.path}\n  kind: {summary['kind']} ({slide.layout}, {slide.dtype})\n  pixel size: {ps}")
    print(f"  channels ({slide.n_channels}): {', '.join(slide.channel_names)}")
    for lv in summary["levels"]:
        print(f"  level {lv['level']}: {lv['height']} x {lv['width']} (downsample {lv['downsample']})")
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    return 0


def _synth(args) -> int:
    from napari_ifcell.cli.progress import end_line, progress
    from napari_ifcell.synth import make_synthetic_pair

    pair = make_synthetic_pair(
        args.out_dir,
        shape=tuple(args.size),
        seed=args.seed,
        he_offset_px=tuple(args.he_offset),
        tile=args.tile,
        he_planar=args.he_planar,
        difficulty=args.difficulty,
        progress=progress,
    )
    end_line()
    truth = json.loads(pair.truth_path.read_text())
    print(
        f"wrote {pair.folder}: {truth['n_cells']} cells, {pair.if_path.name}, {pair.he_path.name}, "
        f"{pair.labels_path.name}, {pair.cells_path.name}, {pair.truth_path.name}"
    )
    return 0


def _demo(args) -> int:
    import napari

    from napari_ifcell._napari.demo import run_demo

    out = Path(args.out_dir) if args.out_dir else Path.home() / ".cache" / "napari-ifcell" / "demo"
    run_demo(out, shape=tuple(args.size), seed=args.seed)
    napari.run()
    return 0


def _pyramid(args) -> int:
    from napari_ifcell.cli.options import open_slides_from_args
    from napari_ifcell.cli.progress import end_line, progress
    from napari_ifcell.io.pyramid_writer import write_slide_pyramid

    out = Path(args.out)
    if not out.name.lower().endswith((".ome.tif", ".ome.tiff")):
        raise ValueError(f"{out}: the pyramid is written as an OME-TIFF; give a name ending in .ome.tif")
    if out.exists() and out.resolve() == Path(args.path).resolve():
        raise ValueError(f"{out}: the copy must not replace the slide it is read from")
    slide, _ = open_slides_from_args(args, args.path)
    with slide:
        write_slide_pyramid(slide, out, tile=args.tile, progress=progress)
    end_line()
    print(f"wrote {out}")
    return 0


def add_commands(sub) -> None:
    from napari_ifcell.cli.options import add_slide_options, finite_float, tile_size

    p = sub.add_parser("info", help="levels, shapes, channels and pixel size of a slide")
    p.add_argument("path")
    add_slide_options(p, he=None)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_info)

    p = sub.add_parser(
        "pyramid", help="copy a slide into a tiled, pyramidal OME-TIFF (for slides napari cannot show as they are)"
    )
    p.add_argument("path")
    p.add_argument("out", help="the copy (.ome.tif)")
    p.add_argument("--tile", type=tile_size, default=512, help="tile size in px, a multiple of 16 (default 512)")
    add_slide_options(p, he=None)
    p.set_defaults(func=_pyramid)

    from napari_ifcell.synth.difficulty import DEFAULT as DEFAULT_DIFFICULTY
    from napari_ifcell.synth.difficulty import DIFFICULTIES

    p = sub.add_parser("synth", help="write a synthetic Orion-like IF + H&E pair with ground truth")
    p.add_argument("out_dir")
    _size_and_seed(p)
    p.add_argument(
        "--he-offset",
        type=finite_float,
        nargs=2,
        metavar=("DY", "DX"),
        default=(3.0, -2.0),
        help="H&E registration error in pixels",
    )
    p.add_argument("--tile", type=tile_size, default=1024, help="tile size in px, a multiple of 16 (default 1024)")
    p.add_argument("--he-planar", action="store_true", help="store the H&E planar (3, Y, X)")
    p.add_argument(
        "--difficulty",
        choices=sorted(DIFFICULTIES),
        default=DEFAULT_DIFFICULTY,
        help="realistic: crowded, unevenly lit, blurred nuclei as in real tissue; easy: separate, sharp nuclei",
    )
    p.set_defaults(func=_synth)

    p = sub.add_parser("demo", help="generate a synthetic pair and open it in napari")
    p.add_argument(
        "--out-dir",
        default=None,
        help="where the pair is written (default ~/.cache/napari-ifcell/demo); a pair made there before opens again",
    )
    _size_and_seed(p)
    p.set_defaults(func=_demo)


def _size_and_seed(p) -> None:
    """The synthetic pair's size and seed (``synth`` and ``demo``)."""
    from napari_ifcell.cli.options import positive_int

    p.add_argument(
        "--size",
        type=positive_int,
        nargs=2,
        metavar=("H", "W"),
        default=(4096, 4096),
        help="slide size in px (default 4096 4096)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the tissue (default 0)")
