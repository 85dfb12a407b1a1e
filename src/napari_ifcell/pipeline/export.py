"""Export a slide's cells to the formats of the field, the format from the output's name:

- ``.parquet`` / ``.csv`` / ``.tsv``: the cell table (MCMICRO columns);
- ``.h5ad``: AnnData for scimap / squidpy (marker means as X);
- ``.geojson``: QuPath cell objects (outlines, classification, measurements);
- ``.ome.zarr``: OME-Zarr image with the cells as NGFF labels;
- ``.zarr``: SpatialData (image(s), labels, table, regions).

Used by the CLI's ``export`` and the Export widget alike.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from napari_ifcell.io.cell_table import CELL_TABLE_SUFFIXES

FORMATS = {
    ".parquet": "cell table",
    ".csv": "cell table",
    ".tsv": "cell table",
    ".h5ad": "AnnData",
    ".geojson": "QuPath GeoJSON",
    ".ome.zarr": "OME-Zarr",
    ".zarr": "SpatialData",
}
TABLE_FORMATS = (*CELL_TABLE_SUFFIXES, ".h5ad", ".geojson")  # need a table, not the slide's pixels
CLASS_COLUMNS = ("predicted", "phenotype", "class")


def export_format(path: str | Path) -> str:
    """The suffix naming ``path``'s format (``.ome.zarr`` before ``.zarr``)."""
    name = Path(path).name.lower().rstrip("/")
    for suffix in FORMATS:
        if name.endswith(suffix):
            return suffix
    choices = ", ".join(f"{s} ({what})" for s, what in FORMATS.items())
    raise ValueError(f"{path}: unknown export format; name the file with one of {choices}")


def class_column(table: pd.DataFrame | None) -> str | None:
    """The column with each cell's class: a reviewed table's ``class`` (the person's label, else
    the automatic one), else a prediction, else the gating phenotype."""
    if table is None:
        return None
    if "review_status" in table.columns and "class" in table.columns:
        return "class"
    return next((c for c in CLASS_COLUMNS if c in table.columns), None)


def table_markers(table: pd.DataFrame, channel_names=()) -> list[str]:
    """The columns that become AnnData's X: the slide's channels (else Orion's) and the table's
    own marker columns (MCMICRO's layout: a table naming a channel DNA_1 that the slide calls
    DAPI keeps it), else the class probabilities of a prediction table."""
    from napari_ifcell.io.cell_table import bare_marker_columns
    from napari_ifcell.orion import ORION_CHANNELS

    markers: list[str] = []
    for names in (channel_names, ORION_CHANNELS):
        markers = [c for c in names if c in table.columns]
        if markers:
            break
    markers += [c for c in bare_marker_columns(table) if c not in markers]
    return markers or [c for c in table.columns if str(c).startswith("prob_")]


def check_target(path: Path, slide, store) -> None:
    """Refuse to write over the slide, its label store, or a folder that is not an export."""
    target = path.resolve()
    if target == Path(slide.path).resolve() or (store is not None and target == Path(store.folder).resolve()):
        raise ValueError(f"{path}: this is the slide or its label store itself; export to another name")
    if target.is_file() and path.name.lower().endswith(".zarr"):
        raise ValueError(f"{path}: a file is in the way of the Zarr folder; move it or choose another name")
    if target.is_dir() and not any((target / name).is_file() for name in ("zarr.json", ".zgroup", ".zattrs")):
        raise ValueError(f"{path}: a folder that is not a Zarr export is in the way; move it or choose another name")


def check_export(path: Path, *, slide, table, store, classes_from: str | None = None):
    """``(format suffix, class column, markers)`` of an export to ``path``, or the error it would
    meet, before anything is written (several outputs are written all or none)."""
    from napari_ifcell.extras import require

    suffix = export_format(path)
    if table is None and suffix not in (".ome.zarr", ".zarr"):
        raise ValueError(f"{path}: a {FORMATS[suffix]} export needs a cell table (quantify the cells first)")
    column = classes_from or class_column(table)
    if table is not None and column is not None and column not in table.columns:
        raise ValueError(f"{path}: the cell table has no column {column!r} to take classes from")
    markers = table_markers(table, slide.channel_names) if table is not None else []
    if table is not None and suffix in (".h5ad", ".zarr"):  # AnnData's obs names: a clash is found now
        from napari_ifcell.io.cell_table import h5_safe_names

        try:
            h5_safe_names([c for c in table.columns if c not in markers])
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    if suffix == ".h5ad":
        _require_markers(path, markers)
    elif suffix == ".zarr":
        slide.require_pixel_size()
        require("spatialdata", extra="spatialdata")
    elif suffix == ".ome.zarr":
        require("ome_zarr", extra="ngff")
    check_target(path, slide, store)
    return suffix, column, markers


def _require_markers(path: Path, markers) -> None:
    if not markers:
        raise ValueError(f"{path}: AnnData needs marker or probability columns for X; the table has none")


def export_cells(
    path: str | Path,
    *,
    slide,
    table: pd.DataFrame | None = None,
    store=None,
    regions=(),
    pair=None,
    classes_from: str | None = None,
    geojson_on: str = "if",
) -> Path:
    """Write ``path``. ``slide``: the slide the cells are on (its pixels go into the Zarr
    formats, its pixel size and channel names everywhere); ``table``: the cell table (needed
    for the table formats); ``store``: its label store (outlines, labels); ``classes_from``:
    the class column (default: the first of ``CLASS_COLUMNS`` present); ``pair``: the slide's
    IF + H&E pair (SpatialData then holds the registered H&E too); ``geojson_on``: the image
    whose level-0 pixels the GeoJSON's outlines are in, ``"if"`` (the slide's) or ``"he"``
    (the pair's registered H&E, for a QuPath project of the H&E)."""
    from napari_ifcell.io.project import slide_name

    path = Path(path)
    suffix, column, markers = check_export(path, slide=slide, table=table, store=store, classes_from=classes_from)
    onto = geojson_frame(slide, pair, geojson_on) if suffix == ".geojson" else None
    if store is None and suffix in (".geojson", ".ome.zarr", ".zarr"):
        _note_no_outlines(path, slide, suffix)
    if suffix == ".geojson" and pair is not None:
        _note_geojson_grid(path, pair, on_he=onto is not None)
    if suffix in TABLE_FORMATS:
        return write_table_export(
            table,
            path,
            markers=markers,
            image_id=slide_name(slide.path),
            store=store,
            class_column=column,
            pixel_size_um=slide.pixel_size_um,
            onto=onto,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".ome.zarr":
        from napari_ifcell.io.ome_zarr_export import write_ome_zarr

        classes = table.set_index("CellID")[column] if table is not None and column else None
        return write_ome_zarr(slide, path, store=store, classes=classes)
    from napari_ifcell.io.spatialdata_export import write_spatialdata

    return write_spatialdata(
        slide,
        path,
        store=store,
        table=table,
        markers=markers,
        regions=regions,
        he_slide=pair.he_slide if pair is not None else None,
        registration=pair.registration if pair is not None else None,
    )


GEOJSON_IMAGES = ("if", "he")


def geojson_frame(slide, pair, geojson_on: str):
    """The map of GeoJSON coordinates onto the image ``geojson_on`` names, None for the
    slide's own pixels; ``"he"`` needs a pair (an H&E slide alone is its own H&E)."""
    from napari_ifcell.io.qupath_geojson import pair_onto_he

    if geojson_on not in GEOJSON_IMAGES:
        raise ValueError(f"GeoJSON outlines on {geojson_on!r}: expected one of {', '.join(GEOJSON_IMAGES)}")
    if geojson_on == "if" or slide.is_rgb:
        return None
    if pair is None:
        raise ValueError(
            f"{slide.path.name}: outlines on the H&E need the registered H&E slide (--he; in napari, open the pair)"
        )
    return pair_onto_he(pair)


def _note_no_outlines(path: Path, slide, suffix: str) -> None:
    """Said when a format that holds the cells' shapes gets none: no label store was found and
    no label image given (a table quantified from another tool's masks keeps no link to them)."""
    from napari_ifcell.io.project import Project
    from napari_ifcell.notes import note

    what = "each cell is a point at its centroid" if suffix == ".geojson" else "it holds no cell labels"
    note(
        f"{path.name}: no label store of {slide.path.name} ({Project.for_slide(slide.path).labels.name}) and no "
        f"label image given, so {what}; for outlines give the nuclei with --store (a label store or a label "
        "image; Export tab: Labels)"
    )


def _note_geojson_grid(path: Path, pair, on_he: bool) -> None:
    """Which image a pair's GeoJSON outlines are on: said when the H&E is on another grid, so
    nobody imports them onto the other image in QuPath and finds the cells off their nuclei."""
    from napari_ifcell.notes import note

    if_ps, he_ps = pair.if_slide.pixel_size_um, pair.he_slide.pixel_size_um
    offset, scale = tuple(map(float, pair.registration.offset_um)), float(pair.registration.scale)
    if on_he:
        note(
            f"{path.name}: outlines in level-0 pixels of {pair.he_slide.path.name} ({he_ps} µm/px), placed by the "
            f"registration (offset {offset[0]:g}, {offset[1]:g} µm): import it onto that image in QuPath"
        )
        return
    same_size = if_ps and he_ps and abs(he_ps / if_ps - 1) < 1e-3
    if same_size and max(map(abs, offset)) < 0.5 * if_ps and abs(scale - 1) < 1e-6:
        return  # within half a pixel: either image takes the outlines
    note(
        f"{path.name}: outlines in level-0 pixels of {pair.if_slide.path.name} ({if_ps} µm/px): import it onto that "
        f"image in QuPath, not onto {pair.he_slide.path.name} ({he_ps} µm/px, offset {offset[0]:g}, {offset[1]:g} µm); "
        "for the H&E, export with --geojson-on he (Export tab: QuPath GeoJSON on the H&E)"
    )


def write_table_export(
    table: pd.DataFrame,
    path: str | Path,
    *,
    markers,
    image_id: str,
    store=None,
    class_column: str | None = None,
    pixel_size_um: float | None = None,
    onto=None,
) -> Path:
    """The formats that need only a cell table (and a label store for outlines): Parquet / CSV /
    TSV, AnnData (``markers`` as X) and QuPath GeoJSON (classes from ``class_column``; on
    another image's pixels with ``onto``, see ``io.qupath_geojson.cells_geojson``)."""
    from napari_ifcell.io.cell_table import write_cells
    from napari_ifcell.io.qupath_geojson import write_cells_geojson

    path = Path(path)
    suffix = export_format(path)
    if suffix not in TABLE_FORMATS:
        raise ValueError(f"{path}: unknown export format here; use one of {', '.join(TABLE_FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".h5ad":
        _require_markers(path, markers)
    if suffix == ".geojson":
        return write_cells_geojson(
            table,
            path,
            store=store,
            class_column=class_column,
            pixel_size_um=pixel_size_um,
            image_id=image_id,
            onto=onto,
        )
    return write_cells(table, path, markers, image_id=image_id, pixel_size_um=pixel_size_um)


def default_table(project) -> Path | None:
    """A project's most complete table: predictions (they carry the gated columns), the gated
    table, the quantified one; None without any."""
    return next((p for p in (project.predictions, project.gated_table, project.cell_table) if p.is_file()), None)


def export_inputs(slide, *, table_path=None, store_folder=None, regions_path=None):
    """``(table, table path, store, regions)`` of a slide: the files given, else its project's
    (what exists of them). A store must be of this slide; ``store_folder`` may also be a label
    image file (read-only, its cell index gathered from the pixels)."""
    from napari_ifcell.io.cell_table import read_cell_table
    from napari_ifcell.io.label_store import LabelStore, slide_identity
    from napari_ifcell.io.project import Project
    from napari_ifcell.io.regions import load_regions
    from napari_ifcell.pipeline.label_image import LabelImage
    from napari_ifcell.pipeline.tiling import (
        LABEL_SOURCES,
        NOT_A_LABEL_STORE,
        cells_pixel_size,
        is_store_folder,
        require_labels_on_grid,
    )

    project = Project.for_slide(slide.path)
    folder = Path(store_folder) if store_folder else project.labels
    store: LabelStore | LabelImage | None
    if folder.exists() and not is_store_folder(folder):  # a label image from another tool
        store = LabelImage(folder)
    else:
        store = LabelStore.open_if_present(folder)
    if store_folder and store is None:
        found = "no such file or folder" if not folder.exists() else NOT_A_LABEL_STORE
        raise FileNotFoundError(f"{folder}: {found}; {LABEL_SOURCES}")
    if isinstance(store, LabelImage):
        try:
            require_labels_on_grid(folder, store.shape, store.meta["pixel_size_um"], slide)
        except ValueError:
            store.close()
            raise
    elif store is not None:
        store.require_shape(slide.shape, str(slide.path))
    if store is not None:
        if store.meta.get("slide"):  # a store that recorded its slide: the same slide, or refused
            store.check_slide(slide_identity(slide))
        if isinstance(store, LabelStore) and store.meta.get("pixel_size_um") is not None:
            cells_pixel_size(slide, store.folder)  # µm, areas and scales at the size it was segmented at
    table_path = Path(table_path) if table_path else default_table(project)
    table = read_cell_table(table_path) if table_path is not None else None
    regions_path = Path(regions_path) if regions_path else project.regions
    regions = (
        load_regions(regions_path, pixel_size_um=slide.pixel_size_um)
        if regions_path.is_file() or regions_path != project.regions
        else []
    )
    if table is not None and store is not None:
        store.require_cells(table, table_path)
    if table is None and store is None:
        raise ValueError(
            f"{slide.path}: nothing to export: no cell table and no label store in {project.folder} "
            "(segment and quantify first, or give the table / store)"
        )
    return table, table_path, store, regions
