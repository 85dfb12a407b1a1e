"""Exports of a review: the reviewed cell table (Parquet / CSV / TSV / AnnData), QuPath GeoJSON
of the cells with their classification, and the agreement table."""

from __future__ import annotations

from pathlib import Path

from napari_ifcell.core.review.state import final_class


def export_review(session, path: str | Path, *, include_rejected: bool = False) -> Path:
    """Write the session's cells to ``path`` (format from the suffix: Parquet / CSV / TSV,
    AnnData, QuPath GeoJSON). Rejected cells (not a cell / artefact) are left out of GeoJSON
    unless ``include_rejected``; tables keep them, with their status."""
    from napari_ifcell.pipeline.export import table_markers, write_table_export

    path = Path(path)
    table = session.table()
    table["class"] = final_class(table)
    suffix = path.suffix.lower()
    if suffix == ".h5ad":
        table = table.assign(reviewed_at=table["reviewed_at"].astype(str))
    if suffix == ".geojson" and not include_rejected:
        table = table[table["review_status"] != "rejected"]
    return write_table_export(
        table,
        path,
        markers=table_markers(table),
        image_id=session.files.folder.parent.stem,
        store=session.store,
        class_column="class",
    )


def export_agreement(session, path: str | Path) -> tuple[Path, Path]:
    """Kappa per pair (auto vs people, reviewer vs reviewer) in ``path``, and the auto-vs-people
    confusion matrix beside it (``<name>_confusion.csv``): one table per CSV, so each reads back."""
    from napari_ifcell.core.review.agreement import agreement_table, auto_vs_people
    from napari_ifcell.io.atomic import atomic_write

    path = Path(path)
    summary = agreement_table(session.state)
    confusion = auto_vs_people(session.state).confusion.rename_axis(index="auto (rows) vs people (columns)")
    confusion_path = path.with_name(f"{path.stem}_confusion{path.suffix}")
    return (
        atomic_write(path, lambda p: summary.to_csv(p, index=False)),
        atomic_write(confusion_path, lambda p: confusion.to_csv(p)),
    )
