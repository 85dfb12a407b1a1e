"""CLI commands over a review: ``review-export`` (tables, AnnData, QuPath GeoJSON) and
``review-agreement`` (Cohen's kappa and confusion)."""

from __future__ import annotations

from pathlib import Path


def _session(args):
    from napari_ifcell.cli.options import require_folder
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.pipeline.review.session import ReviewSession

    project = require_folder(args.project, "the slide's project folder (<slide>.ifcell) holding review/")
    labels = Path(args.labels) if args.labels else (project if (project / "labels.zarr").exists() else None)
    store = LabelStore.open(labels) if labels else None
    return ReviewSession.open(project, reviewer="napari-ifcell export", store=store, read_only=True)


def _export(args) -> int:
    from napari_ifcell.pipeline.review.export import export_review

    session = _session(args)
    if any(Path(p).suffix.lower() == ".geojson" for p in args.out) and session.store is None:
        raise ValueError(f"{args.project}: no label store found for the GeoJSON outlines; give --labels")
    for path in args.out:
        print(f"written: {export_review(session, path, include_rejected=args.include_rejected)}")
    counts = session.status_counts()
    print(", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return 0


def _agreement(args) -> int:
    from napari_ifcell.pipeline.review.export import export_agreement
    from napari_ifcell.pipeline.review.work import review_agreement

    session = _session(args)
    table, auto = review_agreement(session)
    print(table.round(3).to_string(index=False))
    print("\nauto (rows) vs people (columns)")
    print(auto.confusion.to_string())
    if args.out:
        print("written: " + ", ".join(map(str, export_agreement(session, args.out))))
    return 0


def add_commands(sub) -> None:
    from napari_ifcell.pipeline.export import TABLE_FORMATS

    p = sub.add_parser(
        "review-export", help="export reviewed cells: .parquet/.csv/.tsv/.h5ad tables or QuPath .geojson"
    )
    p.add_argument("project", help="the slide's project folder (<slide>.ifcell) holding review/")
    p.add_argument("--out", nargs="+", required=True, help="one or more files; the format follows the suffix")
    p.add_argument("--labels", help="label store (default: the project folder's)")
    p.add_argument("--include-rejected", action="store_true", help="keep cells rejected as not-a-cell in GeoJSON")
    p.set_defaults(func=_export, output_suffixes={"out": TABLE_FORMATS})

    p = sub.add_parser(
        "review-agreement", help="Cohen's kappa and confusion: auto labels vs people, reviewer vs reviewer"
    )
    p.add_argument("project")
    p.add_argument("--labels", help="label store (default: the project folder's)")
    p.add_argument("--out", help="CSV of the kappas; the confusion matrix goes beside it (<name>_confusion.csv)")
    p.set_defaults(func=_agreement, output_suffixes={"out": (".csv",)})
