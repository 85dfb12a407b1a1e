"""CLI command ``compare``: per-region P / R / F1 of models against the truth (IF-derived or
reviewed), or, with no truth, model-vs-model agreement."""

from __future__ import annotations

import math

# options that describe one model file: given once they apply to every --model, or once per
# --model in the same order
PER_MODEL = ("type_map", "model_um_per_px", "format", "origin_px", "he_offset_um")


def _per_model(values, n_models: int, flag: str) -> list:
    if not values:
        return [None] * n_models
    if len(values) == 1:
        return values * n_models
    if len(values) != n_models:
        option = "--" + flag.replace("_", "-")
        raise ValueError(
            f"{option} given {len(values)} times for {n_models} --model files: "
            "give it once (for every model) or once per --model, in the same order"
        )
    return list(values)


def _regions(args, um_per_px: float, slide_shape: tuple[int, int] | None = None):
    from napari_ifcell.io.regions import Region, load_regions

    regions = load_regions(args.regions, pixel_size_um=um_per_px) if args.regions else []
    for name, *box in args.region or []:
        try:
            y, x, h, w = map(float, box)
            if not all(map(math.isfinite, (y, x, h, w))):  # float() reads "nan" and "inf"
                raise ValueError
        except ValueError:
            raise ValueError(
                f"--region {name}: expected NAME Y X H W, finite numbers of level-0 pixels, got {box}"
            ) from None
        if not (h > 0 and w > 0):
            raise ValueError(f"--region {name}: H and W must be above 0, got {h:g} x {w:g} px")
        regions.append(Region.rectangle(name, y, x, h, w))
    for region in regions if slide_shape is not None else []:
        (y0, x0), (y1, x1) = region.vertices.min(0), region.vertices.max(0)
        if y1 <= 0 or x1 <= 0 or y0 >= slide_shape[0] or x0 >= slide_shape[1]:
            raise ValueError(
                f"region {region.name!r}: no pixel on the slide ({slide_shape[0]} x {slide_shape[1]} px; "
                f"the region spans y {y0:g}-{y1:g}, x {x0:g}-{x1:g} in level-0 pixels)"
            )
    if not regions:
        raise ValueError(
            "no regions: give --regions FILE (a project's regions.json, or a QuPath GeoJSON of annotations) "
            "or --region NAME Y X H W"
        )
    return regions


def _slide_grid(args) -> tuple[float, tuple[int, int] | None]:
    """The slide's µm per pixel and, when the slide is given, its level-0 size (models whose
    cells all lie off it are refused)."""
    if args.if_slide:
        from napari_ifcell.io import open_slide

        with open_slide(args.if_slide) as slide:
            return args.pixel_size or slide.require_pixel_size(), tuple(slide.shape[-2:])
    if args.pixel_size:
        return args.pixel_size, None
    raise ValueError("the slide's pixel size is unknown: give --slide SLIDE or --pixel-size")


def _compare(args) -> int:
    from napari_ifcell.cli.options import settings_from_args
    from napari_ifcell.io.comparison_report import report_markdown, write_report
    from napari_ifcell.notes import note, recording_notes
    from napari_ifcell.pipeline.classify import recorded_model
    from napari_ifcell.pipeline.compare import (
        CompareSettings,
        compare_models,
        comparison_about,
        held_out_truth,
        ids_checked,
        matching_summary,
        read_models,
        read_truth,
    )
    from napari_ifcell.pipeline.detection_source import DetectionSource, type_map_spec

    settings = settings_from_args(args, CompareSettings())
    um_per_px, slide_shape = _slide_grid(args)
    regions = _regions(args, um_per_px, slide_shape)
    sources: dict[str, DetectionSource | str] = {}

    def named(name: str) -> str:
        if name in sources:
            raise ValueError(
                f"two models are called {name!r}: give each --ours / --model a name of its own (NAME=FILE)"
            )
        return name

    ours_paths = []
    for spec in args.ours or []:
        name, _, path = spec.rpartition("=")
        sources[named(name or "ours")] = path
        ours_paths.append(path)
    specs = args.model or []
    options = {flag: _per_model(getattr(args, flag), len(specs), flag) for flag in PER_MODEL}
    for i, spec in enumerate(specs):
        name, sep, path = spec.partition("=")
        if not sep:
            raise ValueError(f"--model {spec}: expected NAME=FILE")
        given = {flag: options[flag][i] for flag in PER_MODEL}
        sources[named(name)] = DetectionSource(
            path,
            type_map=type_map_spec(given["type_map"] or "auto"),
            model_um_per_px=given["model_um_per_px"],
            format=given["format"] or "auto",
            origin_px=tuple(given["origin_px"] or (0.0, 0.0)),
            offset_um=tuple(given["he_offset_um"] or (0.0, 0.0)),
            trust=args.trust_pickle,
        )
    if not sources:
        raise ValueError("no models to compare: give --ours PREDICTIONS and/or --model NAME=FILE")
    if not args.truth:
        if args.held_out:
            raise ValueError("--held-out leaves cells out of the truth: give the truth table")
        return _agreement(args, regions, read_models(sources, um_per_px, slide_shape), um_per_px, settings.radius_um)
    with recording_notes() as notes:  # for the report, and said again below for the terminal
        models = read_models(sources, um_per_px, slide_shape)
        truth = read_truth(args.truth)
        # by default the model folder that made most of the first --ours table's predictions, where
        # it records the cells it learnt from: they are left out of the truth
        ours = ours_paths[0] if ours_paths and not args.all_cells else None
        held_out = args.held_out or (recorded_model(ours) if ours else None)
        if held_out:
            truth = held_out_truth(truth, held_out)
        elif ours:
            note(
                f"{ours}: no model that predicted it records its training cells (or one was saved over it since): "
                "every truth cell scored; give --held-out MODEL_OR_DATASET to leave them out"
            )
        models = ids_checked(truth, models, um_per_px=um_per_px, radius_um=settings.radius_um)
    for message in notes:
        note(message)
    labels = None
    if settings.match == "iou":
        if not args.labels:
            raise ValueError("--match iou needs --labels (label TIFF or label store folder)")
        labels = args.labels
    report, counts, _ = compare_models(
        regions,
        truth,
        models,
        um_per_px=um_per_px,
        radius_um=settings.radius_um,
        match=settings.match,
        labels=labels,
        truth_name=args.truth,
    )
    written = {}
    if args.out:  # before printing: a reader of the output that stops early loses nothing
        about = comparison_about(truth, models, truth_name=args.truth, settings=settings, um_per_px=um_per_px)
        written = write_report(report, args.out, counts=counts, about=[*about, *(f"Note: {n}" for n in notes)])
    print(report_markdown(report), end="")
    print(matching_summary(models, settings.match))
    if written:
        print("written: " + ", ".join(str(p) for p in written.values()))
    return 0


def _agreement(args, regions, models, um_per_px: float, radius_um: float) -> int:
    from napari_ifcell.core.compare.agreement import model_agreement
    from napari_ifcell.io.comparison_report import write_agreement

    table = model_agreement(regions, models, um_per_px=um_per_px, radius_um=radius_um)
    print("no truth given: model-vs-model agreement (cells matched by centroid; kappa over matched cells)")
    print(table.round(3).to_string(index=False))
    if args.out:
        print(f"written: {write_agreement(table, args.out)}")
    return 0


def add_commands(sub) -> None:
    from napari_ifcell.cli.options import add_settings_options, finite_float
    from napari_ifcell.core.compare.type_maps import PRESETS
    from napari_ifcell.io.detections import FORMATS
    from napari_ifcell.pipeline.compare import MATCHES, CompareSettings

    p = sub.add_parser(
        "compare", help="per-region lymphocyte P/R/F1 of models (ours, HoVer-Net, ...) against the truth"
    )
    p.add_argument(
        "truth",
        nargs="?",
        help="a gated cell table, or a project folder (its review state); leave out for model-vs-model agreement",
    )
    p.add_argument(
        "--regions",
        help="regions.json (or the project folder holding it), or a GeoJSON of annotation polygons (QuPath's "
        "export; x, y in level-0 pixels of the IF grid)",
    )
    p.add_argument(
        "--region", nargs=5, action="append", metavar=("NAME", "Y", "X", "H", "W"), help="a rectangle in level-0 pixels"
    )
    p.add_argument(
        "--ours", action="append", metavar="[NAME=]TABLE", help="a table with our classifier's 'predicted' column"
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="NAME=FILE",
        help="another model's detections (HoVer-Net JSON, TIAToolbox, GeoJSON)",
    )
    once = " (given once: for every --model; else repeat the option once per --model, in their order)"
    p.add_argument(
        "--type-map",
        action="append",
        help=f"auto, {', '.join(PRESETS)} or a JSON file; auto (default): the one the file's format implies "
        "(lizard for HoVer-Net / TIAToolbox ids, cellvit, histoplus, names for QuPath)" + once,
    )
    p.add_argument(
        "--model-um-per-px",
        type=finite_float,
        action="append",
        help="resolution the model ran at (default: the type map's)" + once,
    )
    p.add_argument("--format", action="append", choices=["auto", *FORMATS], help="default: auto" + once)
    p.add_argument(
        "--origin-px",
        type=finite_float,
        nargs=2,
        action="append",
        metavar=("Y", "X"),
        help="where the model's image began on the slide (level-0 px)" + once,
    )
    p.add_argument(
        "--he-offset-um",
        type=finite_float,
        nargs=2,
        action="append",
        metavar=("DY", "DX"),
        help="H&E minus IF registration, when the model ran on the H&E" + once,
    )
    p.add_argument(
        "--trust-pickle", action="store_true", help="allow TIAToolbox .dat files (a pickle runs code when loaded)"
    )
    p.add_argument("--slide", "--if", dest="if_slide", help="the slide, IF or H&E (for its pixel size)")
    p.add_argument(
        "--pixel-size", "--pixel-size-um", type=finite_float, help="µm per pixel of the slide (default: from --if)"
    )
    add_settings_options(
        p,
        CompareSettings,
        only=("radius_um", "match"),
        choices={"match": MATCHES},
        helps={"radius_um": "centroid matching radius in µm (OCELOT)", "match": "centroid distance or mask IoU"},
    )
    p.add_argument("--labels", help="truth nuclei (label TIFF or store) for --match iou")
    held = p.add_mutually_exclusive_group()
    held.add_argument(
        "--held-out",
        metavar="FOLDER",
        help="score only cells our classifier did not learn from: the cells its model folder records (or the "
        "train and val cells of the data set it was trained on) are left out of the truth, for every model "
        "(default: the model folder the first --ours table names, where it records them)",
    )
    held.add_argument(
        "--all-cells", action="store_true", help="score every truth cell, those our classifier learnt from included"
    )
    p.add_argument(
        "--out", help="folder for comparison.csv / .md (with how the comparison was made) / .png and the counts"
    )
    p.set_defaults(func=_compare, folder_outputs=("out",))
