"""CLI command ``export``: a slide's cells as a cell table, AnnData, QuPath GeoJSON, OME-Zarr or
SpatialData (the format from each output's name)."""

from __future__ import annotations

from pathlib import Path


def _cells_slide(args):
    """``(slide the cells are on, IF + H&E pair or None)``: the IF of a pair, or an H&E alone."""
    from napari_ifcell.cli.options import open_slides_from_args
    from napari_ifcell.io import open_slide

    if args.if_slide:
        return open_slides_from_args(args)
    if not args.he:
        raise ValueError("give the slide: --if SLIDE (with --he for a pair) or --he SLIDE for an H&E alone")
    if args.channel_names:
        raise ValueError("--channel-names names an IF slide's channels; an H&E slide alone has none (give --if)")
    return open_slide(args.he, pixel_size_um=args.he_pixel_size or args.pixel_size), None


def _default_table(project) -> Path | None:
    """The project's most complete table: predictions (they carry the gated columns), the gated
    table, the quantified one."""
    return next((p for p in (project.predictions, project.gated_table, project.cell_table) if p.is_file()), None)


def _export(args) -> int:
    from napari_ifcell.io.cell_table import read_cell_table
    from napari_ifcell.io.label_store import LabelStore, slide_identity
    from napari_ifcell.io.project import Project
    from napari_ifcell.io.regions import load_regions
    from napari_ifcell.pipeline.export import export_cells, export_format

    for out in args.out:
        export_format(out)  # refuse an unknown format before any work
    slide, pair = _cells_slide(args)
    project = Project.for_slide(slide.path)
    store_folder = Path(args.store) if args.store else project.labels
    store = LabelStore.open(store_folder) if (store_folder / "store.json").is_file() else None
    if args.store and store is None:
        raise FileNotFoundError(f"{store_folder}: no label store (missing store.json)")
    if store is not None:
        if tuple(store.shape) != tuple(slide.shape):
            raise ValueError(
                f"{store_folder}: the label store is {store.shape} px but {slide.path} is {slide.shape} px"
            )
        if store.meta.get("slide"):  # a store that recorded its slide: the same slide, or refused
            store.check_slide(slide_identity(slide))
    table_path = Path(args.table) if args.table else _default_table(project)
    table = read_cell_table(table_path) if table_path is not None else None
    regions_path = Path(args.regions) if args.regions else project.regions
    regions = load_regions(regions_path) if regions_path.is_file() or args.regions else []
    if table is None and store is None:
        raise ValueError(
            f"{slide.path}: nothing to export with it: no cell table and no label store in {project.folder} "
            "(segment and quantify first, or give TABLE / --store)"
        )
    for out in args.out:
        written = export_cells(
            out, slide=slide, table=table, store=store, regions=regions, pair=pair, classes_from=args.classes
        )
        print(f"{written}")
    n = len(table) if table is not None else len(store.index)
    source = table_path if table_path is not None else store_folder
    print(f"{n} cells of {slide.path.name} (from {source})")
    return 0


def add_commands(sub) -> None:
    from napari_ifcell.cli.options import add_slide_options
    from napari_ifcell.pipeline.export import FORMATS

    formats = ", ".join(f"{suffix} {what}" for suffix, what in FORMATS.items())
    p = sub.add_parser("export", help="a slide's cells as a table, AnnData, QuPath GeoJSON, OME-Zarr or SpatialData")
    p.add_argument(
        "table",
        nargs="?",
        help="cell table (default: the slide's predictions, gated or quantified table, the first that exists)",
    )
    p.add_argument("--if", dest="if_slide", help="IF slide (leave out for an H&E slide alone, given as --he)")
    add_slide_options(p, he="optional")
    p.add_argument("--store", help="label store with the cells (default: the slide's <slide>.ifcell)")
    p.add_argument("--regions", help="regions JSON (default: the project's regions.json, if any)")
    p.add_argument(
        "--classes", help="the table's column with each cell's class (default: predicted, class or phenotype)"
    )
    p.add_argument("--out", nargs="+", required=True, help=f"one or more outputs, the format from the name: {formats}")
    p.set_defaults(func=_export)
