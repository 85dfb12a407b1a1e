"""Headless whole-slide runs: segment -> quantify -> gate (-> predict), tile by tile as dask
tasks, on an IF slide (with its H&E for a classifier) or an H&E slide alone (segment + predict).

Phase 1 segments every tile (in parallel) and records each tile's owned nuclei in a file;
they are painted into a fresh label store one store chunk per task (pipeline.label_merge),
giving cell ids in tile order. Phase 2 quantifies tiles of the slide's chunk grid (in
parallel) from that store, each image chunk decoded once (pipeline.quantify); the driver adds
up the tiles' sums per cell into the table and applies the gates. Every tile result is written atomically and a finished tile
is never redone, so a run killed at any point and started again finishes without
duplicates; the merges are rebuilt from the tile files, so they are idempotent too.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.extras import require
from napari_ifcell.io.atomic import atomic_write, write_npz
from napari_ifcell.pipeline.run_settings import RunSettings
from napari_ifcell.pipeline.tile_threads import in_order
from napari_ifcell.pipeline.tiling import open_labels_cached, open_slides_cached, region_on_slide, tiles

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SlideJob:
    if_path: str  # the slide segmented: IF, or an H&E slide alone (then he_path is None)
    he_path: str | None
    offset_um: tuple[float, float]
    settings: RunSettings
    out_dir: str
    if_pixel_size_um: float | None = None  # overrides of what the files say
    he_pixel_size_um: float | None = None
    channel_names: tuple[str, ...] | None = None

    def open(self):
        """(IF slide, SlidePair or None), opened once per process."""
        return open_slides_cached(
            self.if_path,
            self.he_path,
            tuple(self.offset_um),
            self.if_pixel_size_um,
            self.he_pixel_size_um,
            self.channel_names,
        )


@dataclass(frozen=True)
class RunSummary:
    cells: int
    tiles: int
    skipped: int
    seconds: float
    megapixels: float
    peak_rss_mb: float

    def describe(self) -> str:
        rate = self.megapixels / self.seconds if self.seconds else 0.0
        return (
            f"{self.cells} cells, {self.tiles} tiles ({self.skipped} already done) in {self.seconds:.1f} s: "
            f"{rate:.2f} megapixels/s, {self.cells / max(self.seconds, 1e-9):.0f} cells/s; "
            f"peak worker memory {self.peak_rss_mb:.0f} MB"
        )


# --- worker side -------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _model(seg):
    """The model a worker's tiles share, loaded once per worker (see segment.load_model)."""
    from napari_ifcell.pipeline.segment import load_model

    return load_model(seg)


def _peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux the kernel's high-water mark of this
    process's own memory (``VmHWM``): ``ru_maxrss`` survives exec, so a worker spawned by a
    large driver would report the driver's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024 * 1024)


def segment_tile(job: SlideJob, box: tuple[int, int, int, int], watershed) -> dict:
    """Phase 1 for one tile: owned nuclei (local ids 1..n) of ``box`` with its halo, to a file;
    ``watershed``: the run's watershed settings with its estimates (or None)."""
    from napari_ifcell.core.tiles import owned_labels
    from napari_ifcell.pipeline.segment import TileReader, _tile_segmenter
    from napari_ifcell.pipeline.tiling import core_in, halo_window

    if_slide, pair = job.open()
    seg = job.settings.segmentation
    if watershed is not None:
        seg = replace(seg, watershed=watershed)
    model = _model(seg)
    segmenter, _ = _tile_segmenter(TileReader(if_slide, pair, nuclear_channel=seg.nuclear_channel), seg, box, model)
    window = halo_window(box, seg.halo, if_slide.shape)
    labels = owned_labels(segmenter(*window), core_in(window, box))
    path = Path(job.out_dir) / "segment_tiles" / f"{box[0]}_{box[1]}.npz"
    origin = np.array(window[:2])
    atomic_write(path, lambda p: write_npz(p, labels=labels.astype(np.int32), origin=origin, count=labels.max()))
    return {"tile": box, "cells": int(labels.max()), "rss_mb": _peak_rss_mb()}


def quantify_tile(job: SlideJob, box: tuple[int, int, int, int], region) -> dict:
    """Phase 2 for one tile of the chunk grid: the morphology of the cells it owns and its
    pixels' channel sums of every cell there (pipeline.quantify), from the merged label store,
    to two files (the cells file last: it marks the tile done)."""
    from napari_ifcell.pipeline.quantify import marker_names, quantify_tile_parts

    if_slide, _ = job.open()
    labels = open_labels_cached(str(Path(job.out_dir) / "labels"))
    settings = job.settings.quantification
    parts = quantify_tile_parts(if_slide, labels, box, region=region, settings=settings, names=marker_names(if_slide))
    no_cells = pd.DataFrame({c: np.zeros(0, np.int64) for c in ("CellID", "X_centroid", "Y_centroid")})
    cells, sums = parts if parts is not None else (no_cells, pd.DataFrame())
    for kind, frame in (("sums", sums), ("cells", cells)):
        atomic_write(_part_file(job, box, kind), lambda p, f=frame: f.to_parquet(p, index=False))
    return {"tile": box, "cells": len(cells), "rss_mb": _peak_rss_mb()}


def _part_file(job: SlideJob, box, kind: str) -> Path:
    return Path(job.out_dir) / "quantify_parts" / f"{box[0]}_{box[1]}.{kind}.parquet"


@lru_cache(maxsize=1)
def _classifier(folder):
    from napari_ifcell.core.classify.model import load_classifier
    from napari_ifcell.core.device import resolve_device

    return load_classifier(folder, device=resolve_device("auto"))


def predict_tile(job: SlideJob, box: tuple[int, int, int, int]) -> dict:
    """Phase 3 for one tile: the classifier's probabilities for its cells, to a file."""
    from napari_ifcell.pipeline.classify import predict_cells, with_model

    if_slide, pair = job.open()
    model, config = _classifier(job.settings.classifier)
    ty, tx = box[:2]
    cells = pd.read_parquet(_part_file(job, box, "cells"), columns=["CellID", "X_centroid", "Y_centroid"])
    if len(cells) == 0:
        predicted = pd.DataFrame({"CellID": np.zeros(0, np.int64)})
    else:
        predicted = with_model(predict_cells(pair or if_slide, cells, model, config), job.settings.classifier)
    atomic_write(
        Path(job.out_dir) / "predict_parts" / f"{ty}_{tx}.parquet", lambda p: predicted.to_parquet(p, index=False)
    )
    return {"tile": box, "cells": len(predicted), "rss_mb": _peak_rss_mb()}


# --- driver side ------------------------------------------------------------------------------
def run_slide(job: SlideJob, *, client=None, progress: Progress | None = None, region=None) -> RunSummary:
    """Run one slide. ``client``: a dask.distributed Client, or None to run in this process."""
    from napari_ifcell.pipeline.segment import resolve_backend

    start = time.perf_counter()
    out = Path(job.out_dir)
    if_slide, pair = job.open()
    if job.settings.classifier and pair is None and not if_slide.is_rgb:
        raise ValueError("the run settings name a classifier: give the H&E slide too (--he)")
    if job.settings.gates and if_slide.is_rgb:
        raise ValueError(f"{job.if_path}: an H&E slide alone has no markers to gate; leave gates out of the settings")
    for sub in ("segment_tiles", "quantify_parts", "predict_parts"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    shape, pixel_size = if_slide.shape, if_slide.require_pixel_size()
    segmentation = resolve_backend(job.settings.segmentation, if_slide, pair)
    job = replace(job, settings=replace(job.settings, segmentation=segmentation))
    region = region_on_slide(region, shape, job.if_path)
    _record_run(out, job, region)
    boxes = tiles(region, job.settings.segmentation.tile)
    watershed = _run_watershed(job, out, region)

    todo = [b for b in boxes if not (out / "segment_tiles" / f"{b[0]}_{b[1]}.npz").exists()]
    skipped = len(boxes) - len(todo)
    args = [(job, b, watershed) for b in todo]
    threads = segmentation.tile_threads
    outcomes = _map(client, segment_tile, args, "segment", len(boxes), skipped, progress, threads=threads)
    _merge_labels(out, job, boxes, shape, pixel_size, client, progress)

    quant_boxes = _quantify_boxes(job, if_slide, region)
    todo = [b for b in quant_boxes if not _part_file(job, b, "cells").exists()]
    skipped += len(quant_boxes) - len(todo)
    outcomes += _map(
        client,
        quantify_tile,
        [(job, b, region) for b in todo],
        "quantify",
        len(quant_boxes),
        len(quant_boxes) - len(todo),
        progress,
    )
    if job.settings.classifier:
        todo = [b for b in quant_boxes if not (out / "predict_parts" / f"{b[0]}_{b[1]}.parquet").exists()]
        skipped += len(quant_boxes) - len(todo)
        outcomes += _map(
            client,
            predict_tile,
            [(job, b) for b in todo],
            "predict",
            len(quant_boxes),
            len(quant_boxes) - len(todo),
            progress,
            threads=1,
        )
    if progress:
        progress("table", 0, 1)
    table = _merge_tables(job, if_slide, quant_boxes)
    peak = max([o["rss_mb"] for o in outcomes], default=0.0)
    return RunSummary(len(table), len(boxes), skipped, time.perf_counter() - start, region[2] * region[3] / 1e6, peak)


def _map(client, fn, arg_list, stage, total, done, progress, *, threads: int | None = None) -> list[dict]:
    """``fn(*args)`` for each of ``arg_list``: on the cluster, or in ``threads`` of this
    process (default: ``tile_threads()``) when there is none."""
    if progress:
        progress(stage, done, total)
    results = []
    if client is None:
        for result in in_order(lambda args: fn(*args), arg_list, threads):
            results.append(result)
            done += 1
            if progress:
                progress(stage, done, total)
        return results
    from distributed import as_completed

    futures = [client.submit(fn, *args, pure=False) for args in arg_list]
    for future in as_completed(futures):
        results.append(future.result())
        done += 1
        if progress:
            progress(stage, done, total)
    return results


def _record_run(out: Path, job: SlideJob, region) -> None:
    """run.json: what this folder holds; a different slide or settings is refused."""
    record = {
        "if_path": _absolute(job.if_path),
        "he_path": _absolute(job.he_path),
        "offset_um": list(job.offset_um),
        "region": list(region),
        "settings": json.loads(json.dumps(asdict(job.settings), default=str)),
    }
    for override in ("if_pixel_size_um", "he_pixel_size_um", "channel_names"):  # recorded when given
        if getattr(job, override) is not None:
            record[override] = getattr(job, override) if override != "channel_names" else list(job.channel_names)
    path = out / "run.json"
    if path.exists():
        previous = json.loads(path.read_text())
        previous.update({key: _absolute(previous.get(key)) for key in ("if_path", "he_path")})  # older runs: as typed
        differ = [key for key in sorted(set(previous) | set(record)) if previous.get(key) != record.get(key)]
        if differ:
            raise ValueError(
                f"{out}: holds a run of other slides or settings ({', '.join(differ)} differ from its run.json); "
                "use another output folder"
            )
        return
    atomic_write(path, lambda p: p.write_text(json.dumps(record, indent=2)))


def _absolute(path: str | None) -> str | None:
    """A slide's path as one resumed run compares it with another, however it was typed."""
    return None if path is None else os.path.abspath(path)


def _run_watershed(job: SlideJob, out: Path, region):
    """The watershed settings with their estimates (threshold or nucleus radius), made once per
    run and kept, so resumed tiles agree; None for the other backends."""
    seg = job.settings.segmentation
    if seg.backend not in ("hoechst", "he"):
        return None
    path = out / "watershed.json"
    if path.exists():
        return replace(seg.watershed, **json.loads(path.read_text()))
    from napari_ifcell.pipeline.segment import TileReader, run_watershed_settings

    if_slide, pair = job.open()
    reader = TileReader(if_slide, pair, nuclear_channel=seg.nuclear_channel)
    filled = run_watershed_settings(reader, seg.backend, seg.watershed, region)
    estimates = {k: v for k, v in asdict(filled).items() if v != getattr(seg.watershed, k)}
    atomic_write(path, lambda p: p.write_text(json.dumps(estimates)))
    return filled


def _merge_labels(out: Path, job: SlideJob, boxes, shape, pixel_size, client, progress) -> None:
    """Paint every tile's nuclei into a fresh store, ids in tile order, one store chunk per
    task (pipeline.label_merge); the store is swapped in atomically when whole."""
    from napari_ifcell.io.cell_index import index_from_sums
    from napari_ifcell.io.label_store import CHUNK, LabelStore
    from napari_ifcell.pipeline import label_merge as merge

    final = out / "labels"
    if (out / "labels.done").exists():
        return
    tmp = out / ".labels.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    store = LabelStore.create(tmp, shape, pixel_size_um=pixel_size)
    run = store.start_run({"merged_from": "segment_tiles"})
    tiles_folder = out / "segment_tiles"
    counts = merge.tile_counts(tiles_folder, boxes)
    base = int(store.new_ids(int(counts.sum()))[0]) - 1 if counts.sum() else 0
    offsets = base + np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    halo = job.settings.segmentation.halo
    jobs = merge.chunk_jobs(boxes, halo, shape)
    args = [(str(tiles_folder), str(tmp), chunk, [(boxes[k], int(offsets[k])) for k in ks]) for chunk, ks in jobs]
    parts = _map(client, merge.paint_chunk, args, "merge", len(args), 0, progress)
    ys, xs = [c[0] for c, _ in jobs] or [0], [c[1] for c, _ in jobs] or [0]
    area = (min(ys), min(xs), max(ys) + CHUNK - min(ys), max(xs) + CHUNK - min(xs))
    for level in range(1, len(store.levels)):
        chunks = merge.level_chunks(store.levels[level].shape, level, area)
        _map(
            client,
            merge.downsample_chunk,
            [(str(tmp), level, c) for c in chunks],
            f"level {level}",
            len(chunks),
            0,
            None,
        )
    store.index = index_from_sums(parts, run)
    store.commit()
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write(out / "labels.done", lambda p: p.write_text("ok"))


def _quantify_boxes(job: SlideJob, if_slide, region) -> list:
    """Phase 2's tiles: on the slide's chunk grid (each image chunk decoded once), as wide as
    the segmentation tiles at least (pipeline.quantify.quantify_tiles)."""
    from napari_ifcell.pipeline.quantify import quantify_tiles

    settings = replace(job.settings.quantification, tile=job.settings.segmentation.tile)
    return quantify_tiles(if_slide, region, settings)


def _merge_tables(job: SlideJob, if_slide, boxes) -> pd.DataFrame:
    """The cell table from the tiles' parts (sums added per cell), with predictions and gates."""
    from napari_ifcell.io.cell_table import write_cell_table
    from napari_ifcell.pipeline.quantify import marker_names, table_from_parts

    parts = [(pd.read_parquet(_part_file(job, b, "cells")), pd.read_parquet(_part_file(job, b, "sums"))) for b in boxes]
    settings = job.settings.quantification
    table = table_from_parts(parts, marker_names(if_slide), settings, if_slide.pixel_size_um)
    out = Path(job.out_dir)
    if job.settings.classifier and len(table):
        predictions = [pd.read_parquet(out / "predict_parts" / f"{ty}_{tx}.parquet") for ty, tx, _, _ in boxes]
        predictions = pd.concat([p for p in predictions if len(p)], ignore_index=True)
        table = table.merge(
            predictions.drop(columns=["X_centroid", "Y_centroid"], errors="ignore"), on="CellID", how="left"
        )
    if job.settings.gates and len(table):
        from napari_ifcell.core.gating.apply import gated_table
        from napari_ifcell.io.gate_file import load_gates

        table = gated_table(table, load_gates(job.settings.gates, columns=table.columns))
    write_cell_table(table, out / "cells.parquet")
    return table


def dashboard_available() -> bool:
    """The dask dashboard needs bokeh; without it the terminal progress is all there is."""
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_"
TRIM_CONFIG_KEY = f"distributed.nanny.pre-spawn-environ.{TRIM_VARIABLE}"  # dask's environment for its workers
TRIM_SETTING = f"{TRIM_CONFIG_KEY}: null"  # how a user starts workers without it


def local_client(n_workers: int | None = None, scheduler: str | None = None):
    """A dask.distributed client: an existing scheduler, or a local cluster of processes."""
    import logging

    import dask

    distributed = require("distributed")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)  # the terminal shows our progress, not dask's chatter
    if scheduler:
        return Client(scheduler)
    n = n_workers or os.cpu_count() or 1
    dashboard = ":0" if dashboard_available() else None
    # dask starts workers with MALLOC_TRIM_THRESHOLD_ set, which turns off glibc's adaptive
    # mmap threshold: every tile-sized array is then mapped, page-faulted in and unmapped
    # again, and a worker ran our tiles 1.4-2x slower than the same code in process
    # (docs/benchmarks.md). Our workers free whole tiles, so trimming gains little. A nanny
    # started earlier in this process leaves the variable in os.environ, which spawned
    # workers would inherit: it is taken out while ours start.
    inherited = os.environ.pop(TRIM_VARIABLE, None)
    try:
        with dask.config.set({TRIM_CONFIG_KEY: None}):
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=dashboard, silence_logs=40
            )
    finally:
        if inherited is not None:
            os.environ[TRIM_VARIABLE] = inherited
    return Client(cluster)


def _trim_threshold() -> str | None:
    return os.environ.get(TRIM_VARIABLE)  # read on the worker: a module function, not the driver's os.environ


def workers_with_trim_threshold(client) -> list[str]:
    """Workers started with dask's default MALLOC_TRIM_THRESHOLD_, which slows tile work
    (``TRIM_SETTING`` in the workers' dask config starts them without it)."""
    found = client.run(_trim_threshold)
    return sorted(worker for worker, value in found.items() if value is not None)
