"""Cell tables for gating: quantify a slide from its nuclei (a label image or a label store)
or load a saved table, and suggest a starting gate for every marker."""

from __future__ import annotations

from collections.abc import Generator

import pandas as pd

from napari_ifcell.core.gating import GateSet, suggested_gateset


def quantify_slide_steps(
    if_path, labels_path, table_path, *, pixel_size_um=None, channel_names=None, pixel_size_option="--pixel-size"
) -> Generator[tuple[str, int, int], None, tuple[pd.DataFrame, GateSet, dict]]:
    """Quantify the whole slide from its nuclei, save the table (atomically), suggest gates.
    ``pixel_size_um``, ``channel_names``: what the user gave for the slide (the Loader's);
    ``pixel_size_option``: where to give a missing pixel size, for the message. Yields
    ``("quantify", tile, tiles)``; returns ``(table, gates, suggestions)``."""
    from napari_ifcell.io import open_slide
    from napari_ifcell.io.cell_table import write_cells
    from napari_ifcell.io.project import slide_name
    from napari_ifcell.pipeline.quantify import quantify_region_steps
    from napari_ifcell.pipeline.tiling import cells_pixel_size, open_nuclei, require_cells

    nuclei = open_nuclei(labels_path)
    try:
        with open_slide(if_path, pixel_size_um=pixel_size_um, channel_names=channel_names) as slide:
            cells_pixel_size(slide, labels_path, pixel_size_option)
            table = yield from quantify_region_steps(slide, nuclei)
            require_cells(table, labels_path)
            name, image_id, markers = slide.path.name, slide_name(slide.path), list(slide.channel_names)
    finally:
        if hasattr(nuclei, "close"):
            nuclei.close()
    write_cells(table, table_path, markers, image_id=image_id)
    gates, suggestions = suggested_gateset(table, slide=name)
    return table, gates, suggestions


def load_table_with_suggestions(table_path, slide_name: str = "", *, labels=None) -> tuple[pd.DataFrame, GateSet, dict]:
    """A saved cell table and suggested gates for it; refused when ``labels`` (the nuclei the
    cells are shown by) is a label store that does not hold its cells."""
    from napari_ifcell.io.label_store import require_store_cells

    table = read_table_to_gate(table_path)
    require_store_cells(labels, table, table_path)
    gates, suggestions = suggested_gateset(table, slide=slide_name)
    note_cells_without_values(table, gates, table_path)
    return table, gates, suggestions


def note_cells_without_values(table: pd.DataFrame, gates: GateSet, source) -> None:
    """Say how many cells have no value (NaN) in a column a gate reads: they are gated
    uncertain for that marker (a cell over pixels without data, or an empty ring), never
    negative, and a user should know why they are not decided."""
    from napari_ifcell.notes import note

    empty = {g.column: int(table[g.column].isna().sum()) for g in gates.gates.values() if g.column in table.columns}
    empty = {column: n for column, n in empty.items() if n}
    if empty:
        shown = ", ".join(f"{column} {n}" for column, n in list(empty.items())[:4])
        more = f" and {len(empty) - 4} more columns" if len(empty) > 4 else ""
        note(
            f"{source}: cells without a value (NaN) in a gated column ({shown}{more}) are uncertain for that "
            "marker, not negative"
        )


def read_table_to_gate(table_path) -> pd.DataFrame:
    """A cell table with a ``<marker>_cell_mean`` column for every marker it measures. A table
    in MCMICRO's layout (bare ``<marker>`` columns, each the marker's cell mean) gets them from
    those, with a note naming them; a table with neither is refused."""
    from napari_ifcell.io.cell_table import CellTableError, bare_marker_columns, read_cell_table
    from napari_ifcell.notes import note

    table = read_cell_table(table_path)
    if any(str(c).endswith("_cell_mean") for c in table.columns):
        return table
    markers = bare_marker_columns(table)
    if not markers:
        raise CellTableError(
            f"{table_path}: no marker column to gate; expected <marker>_cell_mean columns (as quantify writes) "
            "or MCMICRO's <marker> columns of cell means between CellID and X_centroid"
        )
    note(f"{table_path}: MCMICRO columns gated as each marker's cell mean: {', '.join(markers)}")
    return table.assign(**{f"{m}_cell_mean": table[m] for m in markers})


def save_gating(table: pd.DataFrame, gates: GateSet, *, gated_path, gates_path=None) -> pd.DataFrame:
    """Write the gated table (marker states and phenotypes) and, given ``gates_path``, the gates
    it was made with; both atomically, the gates last, so a gates file never describes a table
    that was not written (their folders made by the atomic writes: a slide's project folder
    exists only once a step wrote into it). Returns the gated table."""
    from napari_ifcell.core.gating import gated_table
    from napari_ifcell.io.cell_table import write_cell_table
    from napari_ifcell.io.gate_file import save_gates

    gated = gated_table(table, gates)
    write_cell_table(gated, gated_path)
    if gates_path is not None:
        save_gates(gates, gates_path)
    return gated
