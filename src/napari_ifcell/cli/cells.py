"""CLI commands about cells: segment, import-labels, quantify, gate, run."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from napari_ifcell.cli.progress import end_line
from napari_ifcell.cli.progress import progress as _progress
from napari_ifcell.io.project import project_folder, slide_name


def _quantify(args) -> int:
    from napari_ifcell.cli.options import open_slides_from_args, settings_from_args
    from napari_ifcell.core.quantify.cells import QuantifySettings
    from napari_ifcell.io.cell_table import write_cells
    from napari_ifcell.pipeline import quantify_region
    from napari_ifcell.pipeline.tiling import cells_pixel_size, require_cells

    settings = settings_from_args(args, QuantifySettings())
    if_slide, _ = open_slides_from_args(args)
    with if_slide:
        cells_pixel_size(if_slide, args.labels)
        table = quantify_region(  # opens and checks the labels, on the slide's grid
            if_slide,
            args.labels,
            region=tuple(args.region) if args.region else None,
            settings=settings,
            progress=_progress,
        )
        markers = list(if_slide.channel_names)
    end_line()
    require_cells(table, args.labels, "in the region" if args.region else "anywhere on the slide")
    for out in args.out:
        write_cells(table, out, markers, image_id=slide_name(args.if_slide))
    print(f"{len(table)} cells -> {', '.join(args.out)}")
    return 0


def _image_id(table, path: str) -> str:
    """The table's image (its ``imageid``, as scimap reads it from AnnData), else the file's name."""
    ids = table["imageid"].dropna().unique() if "imageid" in table.columns else []
    return str(ids[0]) if len(ids) == 1 else Path(path).name.split(".")[0]


def _gate(args) -> int:
    from napari_ifcell.core.gating import apply_gates, gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset
    from napari_ifcell.io.cell_table import write_cell_table
    from napari_ifcell.io.gate_file import load_gates, save_gates, scimap_gateset
    from napari_ifcell.pipeline.gating import note_cells_without_values, read_table_to_gate

    table = read_table_to_gate(args.table)
    if args.gates:
        gates = load_gates(args.gates, columns=table.columns)
    elif args.scimap_gates:
        gates = scimap_gateset(args.scimap_gates).validate(table.columns, path=args.scimap_gates)
    else:
        gates, _ = suggested_gateset(table)
        print("no gate file given: using suggested gates", file=sys.stderr)
    if args.save_gates:
        for path in args.save_gates:
            save_gates(gates, path, image_id=_image_id(table, args.table))
    note_cells_without_values(table, gates, args.table)
    result = apply_gates(table, gates)  # once, for the table and the counts
    if args.out:
        write_cell_table(gated_table(table, gates, result=result), args.out)
    for name, n in result.counts().items():
        print(f"{name}\t{n}")
    return 0


def _segment(args) -> int:
    from dataclasses import replace

    from napari_ifcell.cli.options import open_slides_from_args, settings_from_args
    from napari_ifcell.core.segment.sam_masks import SamSettings
    from napari_ifcell.core.segment.watershed import WatershedSettings
    from napari_ifcell.pipeline import SegmentSettings, run_to_end, segment_slide
    from napari_ifcell.pipeline.segment import resolve_backend

    sam = settings_from_args(args, SamSettings())
    watershed = settings_from_args(args, WatershedSettings())
    for limit in ("min_area_um2", "max_area_um2"):  # one pair of --min/max-area-um2 options for every backend
        if getattr(args, f"SamSettings.{limit}", None) is not None:
            watershed = replace(watershed, **{limit: getattr(sam, limit)})
    settings = replace(settings_from_args(args, SegmentSettings()), sam=sam, watershed=watershed)
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    if_slide, pair = open_slides_from_args(args)
    if_slide.require_pixel_size()
    settings = resolve_backend(settings, if_slide, pair)  # a wrong backend is refused before a store is made
    if settings.backend.startswith("sam") and not sam.checkpoint:
        raise ValueError("--checkpoint is needed for the SAM backends (SAM weights are not downloaded)")
    with _store_to_replace_cells_in(if_slide, args.store) as store:
        steps = segment_slide(
            if_slide, store, pair=pair, region=tuple(args.region) if args.region else None, settings=settings
        )
        result = run_to_end(steps, _progress)
    if result.found_nothing:
        print(f"napari-ifcell segment: error: {if_slide.path}: {result.found_nothing}", file=sys.stderr)
        return 2
    print(
        f"{result.cells} cells in {result.seconds:.1f} s with {result.backend}"
        f" ({result.tiles} tiles, {result.removed} replaced) -> {store.folder}"
    )
    _warn_replaced(store.folder, result.removed)
    return 0


def _import_labels(args) -> int:
    from napari_ifcell.cli.options import open_slides_from_args
    from napari_ifcell.pipeline import run_to_end
    from napari_ifcell.pipeline.import_labels import import_labels

    if not Path(args.labels).is_file():
        found = "a folder" if Path(args.labels).is_dir() else "no such file"
        raise FileNotFoundError(f"{args.labels}: {found}; expected a label image (TIFF) of the slide's cells")
    if_slide, _ = open_slides_from_args(args)
    with _store_to_replace_cells_in(if_slide, args.store) as store:
        result = run_to_end(import_labels(if_slide, store, args.labels), _progress)
    if result.found_nothing:
        print(f"napari-ifcell import-labels: error: {result.found_nothing}", file=sys.stderr)
        return 2
    print(f"{result.cells} cells from {result.source} ({result.removed} replaced) -> {store.folder}")
    _warn_replaced(store.folder, result.removed, kept_ids=True)
    return 0


@contextmanager
def _store_to_replace_cells_in(if_slide, store_option):
    """The slide's label store (``--store`` or its project's), for a command that replaces cells:
    refused while their review is open; a store it made and left without cells is removed (no
    empty store for quantify to trip on)."""
    from napari_ifcell.pipeline import slide_store
    from napari_ifcell.pipeline.slide_store import remove_if_left_empty, require_review_closed, store_folder

    folder = store_folder(if_slide, store_option)
    require_review_closed(folder, project_folder(if_slide.path))
    new_store = not (folder / "store.json").exists()
    store = slide_store(if_slide, store_option)
    try:
        yield store
    finally:
        end_line()
        remove_if_left_empty(store, new_store)


def _warn_replaced(folder, removed: int, *, kept_ids: bool = False) -> None:
    from napari_ifcell.pipeline.slide_store import replaced_cells_note

    note = replaced_cells_note(folder, removed, kept_ids=kept_ids)
    if note:
        print(f"warning: {note}", file=sys.stderr)


def _evaluate_segmentation(args) -> int:
    from napari_ifcell.io.atomic import atomic_write
    from napari_ifcell.pipeline.evaluate_segmentation import evaluate_segmentation

    table = evaluate_segmentation(
        args.predicted, args.truth, region=tuple(args.region) if args.region else None, progress=_progress
    )
    end_line()
    first = table.iloc[0]
    print(f"{int(first.tp + first.fp)} predicted, {int(first.tp + first.fn)} annotated nuclei")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        atomic_write(args.out, lambda p: table.to_csv(p, index=False))
    return 0


def _run(args) -> int:
    from napari_ifcell.io.channels import parse_channel_names
    from napari_ifcell.pipeline.run import (
        TRIM_SETTING,
        TRIM_VARIABLE,
        SlideJob,
        dashboard_available,
        local_client,
        run_slide,
        workers_with_trim_threshold,
    )
    from napari_ifcell.pipeline.run_settings import load_run_settings

    settings = load_run_settings(args.settings)  # every problem reported before any work
    slides = _slide_list(args)
    client = None if args.in_process else local_client(args.workers, args.scheduler)
    if client is not None and dashboard_available():
        print(f"dask dashboard: {client.dashboard_link}", file=sys.stderr)
    try:
        if args.scheduler and (slow := workers_with_trim_threshold(client)):
            print(
                f"note: {len(slow)} dask worker(s) run with {TRIM_VARIABLE} set, which slowed tiles 1.4-2x here; "
                f"start them with `{TRIM_SETTING}` in their dask config (README)",
                file=sys.stderr,
            )
        for if_path, he_path, out_dir, he_alone in slides:
            job = SlideJob(
                str(if_path),
                str(he_path) if he_path else None,
                tuple(args.he_offset_um),
                settings,
                str(out_dir),
                if_pixel_size_um=(args.he_pixel_size or args.pixel_size) if he_alone else args.pixel_size,
                he_pixel_size_um=args.he_pixel_size,
                channel_names=tuple(parse_channel_names(args.channel_names)) if args.channel_names else None,
            )
            summary = run_slide(
                job, client=client, progress=_progress, region=tuple(args.region) if args.region else None
            )
            end_line()
            print(f"{Path(if_path).name}: {summary.describe()} -> {out_dir}")
    finally:
        if client is not None:
            client.close()
    return 0


def _slide_list(args) -> list[tuple]:
    """``(slide segmented, its H&E or None, output folder, whether the slide is an H&E alone)``."""
    if args.slides:
        from napari_ifcell.pipeline.cohort import read_slide_list

        return list(read_slide_list(args.slides, args.out))
    if not args.if_slide:
        if args.he:  # an H&E slide alone: it is the slide segmented
            return [(args.he, None, Path(args.out), True)]
        raise ValueError("give --if (and --he), --he alone for an H&E slide without IF, or --slides")
    return [(args.if_slide, args.he, Path(args.out), False)]


def add_commands(sub) -> None:
    from napari_ifcell.cli.options import add_settings_options, add_slide_options
    from napari_ifcell.core.quantify.cells import STATISTICS, QuantifySettings
    from napari_ifcell.core.segment.sam_masks import SAM_TUNABLE, SamSettings
    from napari_ifcell.core.segment.sam_model import MODEL_TYPES
    from napari_ifcell.core.segment.watershed import METHODS, WatershedSettings
    from napari_ifcell.io.cell_table import CELL_TABLE_SUFFIXES
    from napari_ifcell.io.gate_file import GATE_FILE_SUFFIXES
    from napari_ifcell.pipeline.segment import BACKENDS as SEGMENT_BACKENDS
    from napari_ifcell.pipeline.segment import SegmentSettings

    p = sub.add_parser("segment", help="segment nuclei over a region or the whole slide into its label store")
    p.add_argument("if_slide", help="the slide: IF (OME-)TIFF, or an H&E (RGB) slide for the he / sam backends")
    add_slide_options(p, he="optional")
    p.add_argument(
        "--region", type=int, nargs=4, metavar=("Y", "X", "H", "W"), help="level-0 pixels; default whole slide"
    )
    p.add_argument("--store", help="label store folder; default <slide>.ifcell next to the slide")
    add_settings_options(
        p,
        SegmentSettings,
        only=("backend", "nuclear_channel", "tile", "halo", "model", "model_input"),
        choices={"backend": SEGMENT_BACKENDS, "model_input": ("nuclear", "he")},
        helps={
            "backend": "auto: hoechst on a fluorescence slide, he on an RGB one; custom, cellpose, instanseg: "
            "a model called tile by tile (--model)",
            "model": "custom: your function, 'package.module:function' or 'file.py:function' (image -> labels); "
            "cellpose / instanseg: a model name or file (default cpsam; InstanSeg's for the image kind)",
            "model_input": "what the model reads: nuclear (the stain channel) or he; default what the slide is",
            "nuclear_channel": "name or index of the nuclear stain; default the one named Hoechst, DAPI, DNA...",
            "tile": "tile size (level-0 px)",
            "halo": "margin read around a tile (px)",
        },
    )
    add_settings_options(
        p,
        WatershedSettings,
        only=("method", "nucleus_radius_um", "threshold", "min_distance_um", "sigma_um"),  # area limits: SAM's
        choices={"method": METHODS},
        helps={
            "method": "CPU watershed method of the hoechst / he backends",
            "nucleus_radius_um": "typical nucleus radius (adaptive method)",
            "threshold": "adaptive: height above the local background, default 4 x its noise; "
            "classic: stain level, default Otsu over sampled tiles",
            "min_distance_um": "classic: least distance between seeds",
            "sigma_um": "classic: smoothing",
        },
    )
    add_settings_options(
        p,
        SamSettings,
        only=("checkpoint", *SAM_TUNABLE),
        flags={"pred_iou_thresh": "--iou", "stability_score_thresh": "--stability", "box_nms_thresh": "--nms"},
        choices={"model_type": ("auto", *MODEL_TYPES)},
        helps={
            "checkpoint": "SAM checkpoint (.pth)",
            "pred_iou_thresh": "predicted IoU threshold",
            "box_nms_thresh": "box NMS IoU",
            "um_per_px": "resolution SAM reads tiles at (µm/px); masks go back on the slide's grid",
        },
    )
    p.set_defaults(func=_segment)

    p = sub.add_parser(
        "import-labels",
        help="take another tool's cells (a label TIFF: Cellpose, StarDist, Mesmer...) into the slide's label store",
    )
    p.add_argument("if_slide", help="the slide the cells were found on (IF or H&E)")
    p.add_argument("labels", help="label image on the slide's level-0 grid: integer cell ids, 0 = background")
    add_slide_options(p, he=None)
    p.add_argument("--store", help="label store folder; default <slide>.ifcell next to the slide")
    p.set_defaults(func=_import_labels)

    p = sub.add_parser(
        "evaluate-segmentation",
        help="score a segmentation against annotated nuclei: F1 and AP at IoU 0.5-0.9, one-to-one matches",
    )
    p.add_argument("predicted", help="label image (TIFF, OME-TIFF) or label store folder")
    p.add_argument("truth", help="annotated nuclei: label image or label store folder, same pixel grid")
    p.add_argument(
        "--region", type=int, nargs=4, metavar=("Y", "X", "H", "W"), help="level-0 pixels; default whole image"
    )
    p.add_argument("--out", help="also write the table as CSV")
    p.set_defaults(func=_evaluate_segmentation, output_suffixes={"out": (".csv",)})

    p = sub.add_parser(
        "run", help="whole-slide segment -> quantify -> gate (-> predict) as dask tasks; resumable; IF or H&E alone"
    )
    p.add_argument("settings", help="run settings (.yaml/.json): segmentation, quantification, gates, classifier")
    p.add_argument("--if", dest="if_slide", help="IF slide (leave out and give --he for an H&E slide alone)")
    add_slide_options(p, he="optional")
    p.add_argument(
        "--slides",
        help="CSV with if_path and/or he_path[, out_dir] columns: many slides (paths relative to the CSV's folder, "
        "out_dir to --out)",
    )
    p.add_argument("--out", required=True, help="output folder (one per slide; re-running resumes)")
    p.add_argument("--region", type=int, nargs=4, metavar=("Y", "X", "H", "W"))
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--workers", type=int, default=None, help="local cluster size (default: one per core)")
    engine.add_argument("--scheduler", help="address of an existing dask scheduler")
    engine.add_argument(
        "--in-process",
        action="store_true",
        help="no cluster: run the tiles in threads of this process (NAPARI_IFCELL_THREADS, default one per core up to 8)",
    )
    p.set_defaults(func=_run, folder_outputs=("out",))

    p = sub.add_parser("quantify", help="per-cell marker intensities and morphology from an IF slide and its nuclei")
    p.add_argument("if_slide")
    p.add_argument("labels", help="nuclei on the IF grid: a label TIFF or a label store folder (segment)")
    p.add_argument("--out", nargs="+", required=True, help=".parquet, .csv, .tsv and/or .h5ad (AnnData)")
    p.add_argument(
        "--region", type=int, nargs=4, metavar=("Y", "X", "H", "W"), help="level-0 pixels; default whole slide"
    )
    add_settings_options(
        p,
        QuantifySettings,
        only=("expand_um", "statistics", "tile"),
        flags={"statistics": "--stats"},
        choices={"statistics": STATISTICS},
        helps={"expand_um": "cell = nucleus grown by this (µm)", "tile": "tile size (level-0 px)"},
    )
    add_slide_options(p, he=None)
    p.set_defaults(func=_quantify, output_suffixes={"out": (*CELL_TABLE_SUFFIXES, ".h5ad")})

    p = sub.add_parser("gate", help="apply gates (a gate file, scimap CSV, or suggested) to a cell table")
    p.add_argument("table")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--gates", help="gate file (.yaml/.json)")
    source.add_argument("--scimap-gates", help="scimap manual_gates.csv")
    p.add_argument("--out", help="gated table: adds <marker>_state, inconsistent, phenotype")
    p.add_argument(
        "--save-gates",
        action="append",
        help="write the gates used: .yaml / .json, or .csv (scimap's manual_gates.csv, the positive thresholds "
        "only); repeat it for several files",
    )
    p.set_defaults(func=_gate, output_suffixes={"out": CELL_TABLE_SUFFIXES, "save_gates": GATE_FILE_SUFFIXES})
