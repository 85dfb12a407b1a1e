"""CLI commands for the H&E classifiers: export-dataset, train, predict, evaluate."""

from __future__ import annotations

import sys
from pathlib import Path

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
    from napari_ifcell.io.cell_table import read_cell_table
    from napari_ifcell.pipeline.dataset import export_dataset

    table = read_cell_table(args.table)
    if "phenotype" not in table.columns:
        raise ValueError(f"{args.table}: no phenotype column; run 'napari-ifcell gate' on it first")
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
            client=client,
        )
    finally:
        if client is not None:
            client.close()
    print(
        f"{len(index)} cells -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in index["split"].value_counts().items())
    )
    return 0


def _train(args) -> int:
    from napari_ifcell.cli.options import settings_from_args
    from napari_ifcell.core.steps import run_to_end
    from napari_ifcell.extras import require
    from napari_ifcell.pipeline.classify import dataset_config, train_on_dataset_steps

    require("torch", extra="classifier")
    config = settings_from_args(args, dataset_config(args.dataset))
    _, _, history, report = run_to_end(train_on_dataset_steps(args.dataset, args.out, config=config), _progress)
    print(file=sys.stderr)
    if report is not None:
        print(report.round(3).to_string(index=False))
    print(f"model -> {args.out} ({len(history)} epochs)")
    return 0


def _predict(args) -> int:
    from napari_ifcell.core.device import resolve_device
    from napari_ifcell.extras import require
    from napari_ifcell.io.cell_table import write_cell_table
    from napari_ifcell.pipeline.classify import load_prediction_inputs, predict_cells

    require("torch", extra="classifier")
    table, model, config = load_prediction_inputs(
        args.table, args.model, device=resolve_device(args.device), need_truth=False
    )
    table = predict_cells(
        _open_pair_args(args),
        table,
        model,
        config,
        region=tuple(args.region) if args.region else None,
        progress=_progress,
    )
    print(file=sys.stderr)
    write_cell_table(table, args.out)
    print(f"predictions for {int(table.filter(like='prob_').notna().all(axis=1).sum())} cells -> {args.out}")
    return 0


def _evaluate(args) -> int:
    import json

    from napari_ifcell.core.classify.model import ClassifierConfig
    from napari_ifcell.io.cell_table import read_cell_table
    from napari_ifcell.pipeline.classify import evaluate_cells

    config = ClassifierConfig.from_json(json.loads((Path(args.model) / "config.json").read_text())["config"])
    table = read_cell_table(args.table)
    report = evaluate_cells(table, config, region=tuple(args.region) if args.region else None)
    print(report.round(3).to_string(index=False))
    if args.out:
        report.to_csv(args.out, index=False)
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
    from napari_ifcell.cli.options import add_settings_options, add_slide_options
    from napari_ifcell.core.classify.model import BACKBONES, ClassifierConfig

    def pair_arguments(p):
        p.add_argument("--if", dest="if_slide", required=True, help="IF slide")
        add_slide_options(p, he="required")

    p = sub.add_parser("export-dataset", help="H&E patches of gated cells, their labels and splits, for training")
    p.add_argument("table", help="gated cell table (napari-ifcell gate --out)")
    pair_arguments(p)
    p.add_argument("--labels", required=True, help="nuclei: label TIFF or label store folder (for the mask patches)")
    p.add_argument("--out", required=True)
    p.add_argument("--task", default="multiclass", choices=["multiclass", "multitask"])
    p.add_argument("--input", default="he", choices=["he", "hoechst", "he+hoechst"])
    p.add_argument("--sampling", default="per_class", choices=["per_class", "marker_balanced", "natural"])
    p.add_argument("-n", type=int, default=5000, help="cells per class (per_class) or in all")
    p.add_argument("--size", type=int, default=64, help="patch size the model uses")
    p.add_argument("--sizes", type=int, nargs="+", help="every patch size to write (default: --size)")
    p.add_argument("--seed", type=int, default=0)
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--workers", type=int, default=None, help="cut patches on a local dask cluster of this size")
    engine.add_argument("--scheduler", help="address of an existing dask scheduler")
    p.set_defaults(func=_export_dataset)

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
    p.set_defaults(func=_train)

    p = sub.add_parser("predict", help="classify the cells of a table from the H&E")
    p.add_argument("table")
    pair_arguments(p)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--region", type=int, nargs=4, metavar=("Y", "X", "H", "W"))
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_predict)

    p = sub.add_parser("evaluate", help="per-class P/R/F1 or per-marker AUROC against the IF-derived labels")
    p.add_argument("table", help="a table with predictions (napari-ifcell predict)")
    p.add_argument("--model", required=True)
    p.add_argument("--region", type=int, nargs=4, metavar=("Y", "X", "H", "W"))
    p.add_argument("--out", help="metrics CSV")
    p.add_argument("--figures", help="folder for the confusion matrix / ROC curves (PNG)")
    p.set_defaults(func=_evaluate)
