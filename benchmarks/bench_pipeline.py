"""Headless pipeline scaling: the same run (segment -> quantify) on a local dask cluster of
1 worker (baseline) and 2 workers, processes, one thread each.

Goal: >= 1.7x faster with 2 workers on 2 cores, peak memory per worker bounded (printed).

Usage: python benchmarks/bench_pipeline.py [--size 16384] [--region 4096] [--data-dir .benchmarks-data]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--region", type=int, default=4096)
    parser.add_argument("--data-dir", default=".benchmarks-data")
    args = parser.parse_args()

    from napari_ifcell.pipeline.run import SlideJob, local_client, run_slide
    from napari_ifcell.pipeline.run_settings import RunSettings
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    files = SyntheticPair.in_folder(Path(args.data_dir) / f"synthetic-{args.size}")
    if not files.exists():
        make_synthetic_pair(files.folder, shape=(args.size, args.size), seed=0)
    y = x = (args.size - args.region) // 2
    region = (y, x, args.region, args.region)
    results = {}
    for workers in (1, 2):
        out = Path(tempfile.mkdtemp(prefix=f"bench-run-{workers}-", dir=args.data_dir))
        client = local_client(workers)
        try:
            job = SlideJob(str(files.if_path), None, (0.0, 0.0), RunSettings(), str(out))
            results[workers] = run_slide(job, client=client, region=region)
        finally:
            client.close()
            shutil.rmtree(out, ignore_errors=True)
    one, two = results[1], results[2]
    print(
        f"region {args.region} x {args.region} px of a {args.size}² synthetic slide, Hoechst watershed + 19-channel quantification"
    )
    for n, r in results.items():
        print(f"  {n} worker(s): {r.describe()}")
    print(
        f"2 workers vs 1 (baseline): {one.seconds / two.seconds:.2f}x faster (goal >= 1.7x); "
        f"peak RSS per worker {two.peak_rss_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
