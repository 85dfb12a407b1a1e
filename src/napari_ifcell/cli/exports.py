"""CLI command ``export``: a slide's cells as a cell table, AnnData, QuPath GeoJSON, OME-Zarr or
SpatialData (the format from each output's name)."""

from __future__ import annotations

from pathlib import Path


def _export(args) -> int:
    from napari_ifcell.cli.options import open_cells_slide
    from napari_ifcell.pipeline.export import check_export, export_cells, export_format, export_inputs, geojson_frame

    suffixes = [export_format(out) for out in args.out]  # an unknown format refused before any work
    if args.geojson_on != "if" and ".geojson" not in suffixes:
        raise ValueError(
            f"--geojson-on {args.geojson_on}: no .geojson among --out ({' '.join(args.out)}); "
            "add an output ending .geojson, or leave --geojson-on out"
        )
    slide, pair = open_cells_slide(args)
    if ".geojson" in suffixes:
        geojson_frame(slide, pair, args.geojson_on)  # outlines on the H&E need one
    table, table_path, store, regions = export_inputs(
        slide, table_path=args.table, store_folder=args.store, regions_path=args.regions
    )
    for out in args.out:  # every output checked before the first is written: all or none
        check_export(Path(out), slide=slide, table=table, store=store, classes_from=args.classes)
    for out in args.out:
        written = export_cells(
            out,
            slide=slide,
            table=table,
            store=store,
            regions=regions,
            pair=pair,
            classes_from=args.classes,
            geojson_on=args.geojson_on,
        )
        print(f"{written}")
    n = len(table) if table is not None else len(store.index)
    source = table_path if table_path is not None else store.folder
    print(f"{n} cells of {slide.path.name} (from {source})")
    return 0


def add_commands(sub) -> None:
    from napari_ifcell.cli.options import add_slide_options
    from napari_ifcell.pipeline.export import FORMATS, GEOJSON_IMAGES

    formats = ", ".join(f"{suffix} {what}" for suffix, what in FORMATS.items())
    p = sub.add_parser("export", help="a slide's cells as a table, AnnData, QuPath GeoJSON, OME-Zarr or SpatialData")
    p.add_argument(
        "table",
        nargs="?",
        help="cell table (default: the slide's predictions, gated or quantified table, the first that exists)",
    )
    p.add_argument("--if", dest="if_slide", help="IF slide (leave out for an H&E slide alone, given as --he)")
    add_slide_options(p, he="optional")
    p.add_argument(
        "--store",
        help="label store with the cells (default: the slide's <slide>.ifcell), or a label image file "
        "(another tool's cell masks) for outlines and labels",
    )
    p.add_argument(
        "--regions", help="regions JSON or QuPath annotations GeoJSON (default: the project's regions.json, if any)"
    )
    p.add_argument(
        "--classes", help="the table's column with each cell's class (default: predicted, class or phenotype)"
    )
    p.add_argument(
        "--geojson-on",
        choices=GEOJSON_IMAGES,
        default="if",
        help="the image whose level-0 pixels the GeoJSON outlines are in: if (default) or he, the registered "
        "H&E (--he), for a QuPath project of the H&E",
    )
    p.add_argument("--out", nargs="+", required=True, help=f"one or more outputs, the format from the name: {formats}")
    p.set_defaults(func=_export)
