"""CLI commands for the H&E classifiers: export-dataset, train, predict, evaluate."""

from __future__ import annotations

from pathlib import Path

from napari_ifcell.cli.progress import end_line
from napari_ifcell.cli.progress import progress as _progress


def _open_pair_args(args):
    from napari_ifcell.cli.options import open_slides_from_args

    return open_slides_from_args(args)[1]


def _classifier_config(args):
    from napari_ifcell.core.classify.model import ClassifierConfig

    config = ClassifierConfig(task=args.task, input=args.input, patch_size=args.size)
    problems = config.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return config


def _export_dataset(args) -> int:
    from napari_ifcell.pipeline.dataset import export_dataset, read_gated_table

    table = read_gated_table(args.table)
    config = _classifier_config(args)
    client = None
    if args.workers or args.scheduler:
        from napari_ifcell.pipeline.run import local_client

        client = local_client(args.workers, args.scheduler)
    try:
        index = export_dataset(
            _open_pair_args(args),
            table,
            args.labels,
            args.out,
            config=config,
            sampling=args.sampling,
            n=args.n,
            sizes=tuple(args.sizes or (args.size,)),
            seed=args.seed,
            block_um=args.block_um,
            client=client,
            table_name=args.table,
        )
    finally:
        if client is not None:
            client.close()
    print(
        f"{len(index)} cells -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in index["split"].value_counts().items())
    )
    return 0


def _train(args) -> int:
    from napari_ifcell.cli.options import require_folder, settings_from_args
    from napari_ifcell.core.steps import run_to_end
    from napari_ifcell.extras import require
    from napari_ifcell.pipeline.classify import dataset_config, train_on_dataset_steps

    require("torch", extra="classifier")
    require_folder(args.dataset, "a data set folder written by export-dataset")
    config = settings_from_args(args, dataset_config(args.dataset))
    _, _, history, report = run_to_end(train_on_dataset_steps(args.dataset, args.out, config=config), _progress)
    end_line()
    if report is not None:
        print(report.round(3).to_string(index=False))
    print(f"model -> {args.out} ({len(history)} epochs)")
    return 0


def _prediction_source(args):
    """``(IF + H&E pair or the H&E slide alone, the slide whose grid the cells are on)``."""
    from napari_ifcell.cli.options import open_cells_slide

    slide, pair = open_cells_slide(args)
    return (pair if pair is not None else slide), slide


def _predict(args) -> int:
    from napari_ifcell.core.device import resolve_device
    from napari_ifcell.extras import require
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.io.project import Project, slide_name
    from napari_ifcell.pipeline.classify import (
        export_predictions,
        load_prediction_inputs,
        predict_cells,
        predicted_rows,
        save_predictions,
        with_model,
    )

    require("torch", extra="classifier")
    source, slide = _prediction_source(args)
    cells_slide = slide.path
    project = Project.for_slide(cells_slide)
    store_folder = Path(args.store) if args.store else project.labels
    store = LabelStore.open_if_present(store_folder)
    if not args.table and store is None:
        given = f" --pixel-size {slide.pixel_size_um:g}" if slide.pixel_size_source == "given" else ""
        raise ValueError(
            f"{store_folder}: no label store with this slide's cells; segment it first "
            f"(napari-ifcell segment {cells_slide}{given}) or give a cell table"
        )
    if store is not None:  # another slide's cells would be read at the wrong places: refused
        from napari_ifcell.pipeline.tiling import cells_pixel_size

        store.require_shape(slide.shape, str(cells_slide))
        cells_pixel_size(slide, store.folder)  # the slide's, or the store's where the file gives none
    table, model, config = load_prediction_inputs(
        args.table, args.model, device=resolve_device(args.device), need_truth=False, store=store
    )
    table = predict_cells(
        source, table, model, config, region=tuple(args.region) if args.region else None, progress=_progress
    )
    table = with_model(table, args.model)  # evaluate and compare leave out the cells it learnt from
    end_line()
    if args.out:
        for out in args.out:
            export_predictions(
                table, out, store=store, image_id=slide_name(cells_slide), pixel_size_um=slide.pixel_size_um
            )
    else:  # the slide's own predictions: a region predicted now keeps the rest of the slide's
        table = save_predictions(table, project.predictions)
    outs = args.out or [project.predictions]
    done = int(predicted_rows(table).sum())
    print(f"predictions for {done} cells -> {', '.join(map(str, outs))}")
    if "predicted" in table.columns:
        counts = table["predicted"].value_counts()
        print(", ".join(f"{name} {n}" for name, n in counts.items()))
    return 0


def _evaluate(args) -> int:
    from napari_ifcell.core.classify.model import read_config
    from napari_ifcell.io.atomic import atomic_write
    from napari_ifcell.io.cell_table import read_cell_table
    from napari_ifcell.notes import note
    from napari_ifcell.pipeline.classify import evaluate_cells, held_out_cells, predicted_rows, unseen_cells

    config = read_config(args.model)
    table = read_cell_table(args.table)
    if args.held_out:
        table = held_out_cells(table, args.held_out)
    elif not args.all_cells:  # a model is scored on the cells it did not learn from
        unseen, line = unseen_cells(table, args.model)
        predicted = predicted_rows(table)
        if predicted.any() and not (unseen & predicted).any():
            raise ValueError(
                f"{args.model}: the model was trained or validated on every predicted cell of the table; none is "
                "held out (--all-cells scores them anyway)"
            )
        note(line + ("" if unseen.all() else " (--all-cells scores them too)"))
        table = table[unseen]
    report = evaluate_cells(table, config, region=tuple(args.region) if args.region else None)
    print(report.round(3).to_string(index=False))
    if args.out:
        atomic_write(args.out, lambda p: report.to_csv(p, index=False))
    if args.figures:
        _figures(table, config, Path(args.figures))
    return 0


def _figures(table, config, folder: Path) -> None:
    from napari_ifcell.core.classes import CLASS_OF_PHENOTYPE
    from napari_ifcell.core.classify.metrics import save_confusion_figure, save_roc_figure
    from napari_ifcell.pipeline.dataset import classifier_targets

    folder.mkdir(parents=True, exist_ok=True)
    if config.task == "multiclass":
        scored = (classifier_targets(table, config) >= 0) & table["predicted"].notna().to_numpy()
        save_confusion_figure(
            table["phenotype"].map(CLASS_OF_PHENOTYPE)[scored],
            table["predicted"][scored],
            config.classes,
            folder / "confusion.png",
        )
    else:
        import numpy as np

        probs = table[[f"prob_{m}" for m in config.markers]].to_numpy()
        has = ~np.isnan(probs).any(axis=1)
        save_roc_figure(classifier_targets(table, config)[has], probs[has], config.markers, folder / "roc.png")


def add_commands(sub) -> None:
    from napari_ifcell.cli.options import add_settings_options, add_slide_options, positive_float, positive_int
    from napari_ifcell.core.classify.model import BACKBONES, ClassifierConfig
    from napari_ifcell.pipeline.export import TABLE_FORMATS

    def pair_arguments(p):
        p.add_argument("--if", dest="if_slide", required=True, help="IF slide")
        add_slide_options(p, he="required")

    p = sub.add_parser("export-dataset", help="H&E patches of gated cells, their labels and splits, for training")
    p.add_argument("table", help="gated cell table (napari-ifcell gate --out)")
    pair_arguments(p)
    p.add_argument("--labels", required=True, help="nuclei: label TIFF or label store folder (for the mask patches)")
    p.add_argument("--out", required=True, help="data set folder (patches, labels and splits)")
    p.add_argument("--task", default="multiclass", choices=["multiclass", "multitask"])
    p.add_argument("--input", default="he", choices=["he", "hoechst", "he+hoechst"])
    p.add_argument("--sampling", default="per_class", choices=["per_class", "marker_balanced", "natural"])
    p.add_argument("-n", type=positive_int, default=5000, help="cells per class (per_class) or in all")
    p.add_argument("--size", type=positive_int, default=64, help="patch size the model uses")
    p.add_argument("--sizes", type=positive_int, nargs="+", help="every patch size to write (default: --size)")
    p.add_argument(
        "--block-um",
        type=positive_float,
        default=250.0,
        help="side of the square blocks of the slide that go whole to one split, train / val / test (default 250)",
    )
    p.add_argument("--seed", type=int, default=0)
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--workers", type=int, default=None, help="cut patches on a local dask cluster of this size")
    engine.add_argument("--scheduler", help="address of an existing dask scheduler")
    p.set_defaults(func=_export_dataset, folder_outputs=("out",))

    p = sub.add_parser("train", help="train an H&E classifier on an exported data set")
    p.add_argument("dataset")
    p.add_argument("--out", required=True, help="model folder (weights.pt + config.json)")
    add_settings_options(
        p,
        ClassifierConfig,
        only=("epochs", "batch_size", "learning_rate", "patch_size", "backbone", "backbone_weights", "device", "seed"),
        flags={"learning_rate": "--lr", "patch_size": "--size"},
        choices={"backbone": BACKBONES},
        helps={"patch_size": "patch size", "backbone_weights": "local ResNet-18 weights (.pth)"},
    )
    p.epilog = "Options left out keep the data set's config (config.json)."
    p.set_defaults(func=_train, folder_outputs=("out",))

    p = sub.add_parser("predict", help="classify cells from the H&E: of an IF + H&E pair, or an H&E slide alone")
    p.add_argument("table", nargs="?", help="cell table (default: the cells of the slide's label store)")
    p.add_argument("--if", dest="if_slide", help="IF slide (leave out for an H&E slide alone)")
    add_slide_options(p, he="required")
    p.add_argument("--store", help="label store with the cells (default: the slide's <slide>.ifcell)")
    p.add_argument("--model", required=True)
    p.add_argument(
        "--out",
        nargs="+",
        help="one or more of .parquet/.csv/.tsv/.h5ad/.geojson (default: <slide>.ifcell/predictions.parquet)",
    )
    p.add_argument("--region", type=int, nargs=4, metavar=("Y", "X", "H", "W"))
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_predict, output_suffixes={"out": TABLE_FORMATS})

    p = sub.add_parser("evaluate", help="per-class P/R/F1 or per-marker AUROC against the IF-derived labels")
    p.add_argument("table", help="a table with predictions (napari-ifcell predict)")
    p.add_argument("--model", required=True)
    p.add_argument("--region", type=int, nargs=4, metavar=("Y", "X", "H", "W"))
    held = p.add_mutually_exclusive_group()
    held.add_argument(
        "--held-out",
        metavar="DATASET",
        help="leave out the train and val cells of this data set (export-dataset --out, cut from this slide) "
        "instead of those the model records (default: the cells its folder records are not scored)",
    )
    held.add_argument(
        "--all-cells", action="store_true", help="score every cell, the ones the model learnt from included"
    )
    p.add_argument("--out", help="metrics CSV")
    p.add_argument("--figures", help="folder for the confusion matrix / ROC curves (PNG)")
    p.set_defaults(func=_evaluate, folder_outputs=("figures",), output_suffixes={"out": (".csv",)})
