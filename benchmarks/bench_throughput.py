"""Whole-slide throughput against the decode bound, worker scaling, memory, and an Orion projection.

Baselines measured in the same run:
- the decode bound: every level-0 chunk of every channel of the IF slide decoded once, in
  this process (what reading the file costs at the least);
- 1 worker, for the 2-worker scaling;
- for the segmentation stage alone: its tiles in 2 plain processes against 1 (no dask, each
  process warmed up first; the warm-up tiles are timed again), set beside dask's ratio for
  the same stage;
- the machine's own 2-process scaling, for pure compute and for memory traffic.
Figures: the in-process pipeline (`run_slide`: Hoechst watershed, label merge, 19-channel
quantification), its tiles one at a time and in threads (``tile_threads``), as a share of
the decode bound in one thread and in as many threads (goal >= 25 %); 2 workers vs 1 (goal >= 1.9x);
peak RSS per worker on two slide sizes (goal <= 1 GB whatever the size); the time an
87,043 x 42,367 px Orion slide would take on 16 cores, projected from the measured stage costs.

Usage: python benchmarks/bench_throughput.py [--size 4096] [--small 2048] [--data-dir .benchmarks-data]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ORION = (87_043, 42_367)


def decode_bound(path, passes: int = 2, threads: int = 1) -> float:
    """Seconds to decode every level-0 chunk of every channel once, in ``threads`` threads:
    the fastest of ``passes`` passes (the first pays for the file's pages and the decoder's
    start, which the pipeline, run after it, does not)."""
    from napari_ifcell.io import open_slide
    from napari_ifcell.pipeline.tile_threads import in_order

    seconds = []
    with open_slide(path) as slide:
        level = slide.levels[0]
        cy, cx = slide.chunk_yx
        chunks = [
            (c, y, x)
            for c in range(slide.n_channels)
            for y in range(0, slide.shape[0], cy)
            for x in range(0, slide.shape[1], cx)
        ]
        for _ in range(passes):
            start = time.perf_counter()
            for _ in in_order(lambda cyx: level[cyx[0], cyx[1] : cyx[1] + cy, cyx[2] : cyx[2] + cx], chunks, threads):
                pass
            seconds.append(time.perf_counter() - start)
    return min(seconds)


def timed_run(files, data_dir, client=None):
    """(summary, seconds per stage) of one run in a fresh output folder."""
    from napari_ifcell.pipeline.run import SlideJob, run_slide
    from napari_ifcell.pipeline.run_settings import RunSettings

    stages: dict[str, float] = {}
    last = [None, time.perf_counter()]

    def progress(stage, done, total):
        now = time.perf_counter()
        if last[0] is not None:
            stages[last[0]] = stages.get(last[0], 0.0) + now - last[1]
        last[:] = [stage, now]

    out = Path(tempfile.mkdtemp(prefix="bench-throughput-", dir=data_dir))
    try:
        start = time.perf_counter()
        summary = run_slide(
            SlideJob(str(files.if_path), None, (0.0, 0.0), RunSettings(), str(out)), client=client, progress=progress
        )
        stages[last[0]] = stages.get(last[0], 0.0) + time.perf_counter() - last[1]
        stages["driver"] = time.perf_counter() - start - sum(stages.values())  # the threshold, before any stage
        return summary, stages
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _segment(args) -> int:
    from napari_ifcell.pipeline.run import segment_tile

    return segment_tile(*args)["cells"]


def plain_process_seconds(files, data_dir) -> dict[int, float]:
    """Seconds for every segmentation tile of the slide in 1 and in 2 plain processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from dataclasses import replace

    from napari_ifcell.pipeline.run import SlideJob, _run_watershed
    from napari_ifcell.pipeline.run_settings import RunSettings
    from napari_ifcell.pipeline.segment import resolve_backend
    from napari_ifcell.pipeline.tiling import tiles

    out = Path(tempfile.mkdtemp(prefix="bench-ceiling-", dir=data_dir))
    try:
        (out / "segment_tiles").mkdir()
        job = SlideJob(str(files.if_path), None, (0.0, 0.0), RunSettings(), str(out))
        if_slide, pair = job.open()
        seg = resolve_backend(job.settings.segmentation, if_slide, pair)
        job = replace(job, settings=replace(job.settings, segmentation=seg))
        region = (0, 0, *if_slide.shape)
        watershed = _run_watershed(job, out, region)
        boxes = tiles(region, seg.tile)
        seconds = {}
        for n in (1, 2):
            with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
                list(pool.map(_segment, [(job, b, watershed) for b in boxes[:n]]))  # imports, slide open
                start = time.perf_counter()
                list(pool.map(_segment, [(job, b, watershed) for b in boxes]))
                seconds[n] = time.perf_counter() - start
        return seconds
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _python_loop(_) -> int:
    return sum(range(80_000_000))


def _memory_streams(_) -> float:
    values, product = np.ones(8_000_000), np.empty(8_000_000)  # 64 MB each: beyond the caches
    return sum(float(np.multiply(values, 1.0001, out=product).sum()) for _ in range(100))


def machine_scaling() -> dict[str, float]:
    """What 2 processes give over 1 on this machine for two tasks of pure compute (a Python
    loop) and of memory traffic (numpy over 64 MB): the cores' own ceiling for the ratios above."""
    import multiprocessing

    ratios = {}
    for name, task in (("python loop", _python_loop), ("numpy over 64 MB", _memory_streams)):
        seconds = {}
        for n in (1, 2):
            with multiprocessing.get_context("spawn").Pool(n) as pool:
                time.sleep(1.0)  # the processes started and imported
                start = time.perf_counter()
                pool.map(task, range(2), chunksize=1)
                seconds[n] = time.perf_counter() - start
        ratios[name] = seconds[1] / seconds[2]
    return ratios


def synthetic(size, data_dir):
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    files = SyntheticPair.in_folder(Path(data_dir) / f"synthetic-{size}")
    if not files.exists():
        make_synthetic_pair(files.folder, shape=(size, size), seed=0)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--small", type=int, default=2048, help="a second slide size for the memory figure")
    parser.add_argument("--data-dir", default=".benchmarks-data")
    args = parser.parse_args()

    from napari_ifcell.pipeline.run import local_client
    from napari_ifcell.pipeline.tile_threads import THREADS_VARIABLE, tile_threads

    files = synthetic(args.size, args.data_dir)
    megapixels = args.size**2 / 1e6
    threads = tile_threads()
    decode = {n: decode_bound(files.if_path, threads=n) for n in sorted({1, threads})}
    os.environ[THREADS_VARIABLE] = "1"
    serial, serial_stages = timed_run(files, args.data_dir)
    del os.environ[THREADS_VARIABLE]
    summary, stages = timed_run(files, args.data_dir)
    print(f"slide {args.size} x {args.size} px, 19 channels; Hoechst watershed + merge + quantification (mean, std)")
    print(
        "decode bound (every level-0 chunk of every channel once, fastest of 2 passes): "
        + ", ".join(f"{d:.1f} s in {n} thread(s)" for n, d in decode.items())
    )
    for label, run, run_stages in (("1 thread", serial, serial_stages), (f"{threads} threads", summary, stages)):
        shares = ", ".join(f"{100 * decode[n] / run.seconds:.0f} % of the bound in {n}" for n in decode)
        print(
            f"in-process pipeline, tiles in {label}: {run.seconds:.1f} s = {megapixels / run.seconds:.2f} "
            f"megapixels/s, {run.cells} cells, peak memory {run.peak_rss_mb:.0f} MB -> {shares} (goal >= 25 %)"
        )
        print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in run_stages.items()))
    print(f"in process, {threads} threads vs 1: {serial.seconds / summary.seconds:.2f}x")

    runs = {}
    for workers in (1, 2):
        client = local_client(workers)
        try:
            runs[workers] = timed_run(files, args.data_dir, client)
        finally:
            client.close()
    one, two = runs[1][0], runs[2][0]
    print(
        f"dask cluster: 1 worker {one.seconds:.1f} s, 2 workers {two.seconds:.1f} s -> "
        f"{one.seconds / two.seconds:.2f}x (goal >= 1.9x)"
    )
    ceiling = plain_process_seconds(files, args.data_dir)
    seg_one, seg_two = runs[1][1]["segment"], runs[2][1]["segment"]
    print(
        f"segmentation stage only: dask 1 worker {seg_one:.1f} s, 2 workers {seg_two:.1f} s -> "
        f"{seg_one / seg_two:.2f}x; the same tiles in plain warmed-up processes: 1 {ceiling[1]:.1f} s, "
        f"2 {ceiling[2]:.1f} s -> {ceiling[1] / ceiling[2]:.2f}x (what the cores give this work without dask)"
    )
    machine = machine_scaling()
    print(
        "this machine, 2 processes vs 1 for two tasks: "
        + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in machine.items())
        + " (the cores' own ceiling)"
    )
    client = local_client(1)
    try:
        small, _ = timed_run(synthetic(args.small, args.data_dir), args.data_dir, client)
    finally:
        client.close()
    print(
        f"peak RSS per worker: {small.peak_rss_mb:.0f} MB at {args.small}², {one.peak_rss_mb:.0f} MB at {args.size}², "
        f"{two.peak_rss_mb:.0f} MB with 2 workers (goal <= 1024 MB whatever the size)"
    )

    # Orion projection: the parallel stages' per-megapixel cost on one worker spread over 16
    # cores at the measured 2-worker efficiency, plus the driver's serial share scaled by area.
    orion_mp = ORION[0] * ORION[1] / 1e6
    stages_one = runs[1][1]
    serial = stages_one.pop("driver") + stages_one.pop("table", 0.0)
    parallel = sum(stages_one.values())
    efficiency = one.seconds / two.seconds / 2
    projected = (parallel / megapixels * orion_mp) / (16 * efficiency) + serial / megapixels * orion_mp
    print(
        f"projected {ORION[0]:,} x {ORION[1]:,} px Orion slide on 16 cores: {projected / 60:.0f} min "
        f"(parallel stages {parallel / megapixels:.2f} s/megapixel on one worker at {100 * efficiency:.0f} % "
        f"scaling efficiency, driver {serial / megapixels:.3f} s/megapixel serial)"
    )


if __name__ == "__main__":
    main()
