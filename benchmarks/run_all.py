"""Run every benchmark in turn, with the same data folder: python benchmarks/run_all.py [--data-dir D]."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = [
    "bench_slide_io.py",
    "bench_quantify.py",
    "bench_gating.py",
    "bench_gating_viewer.py",
    "bench_segmentation.py",
    "bench_pipeline.py",
    "bench_throughput.py",
    "bench_cell_table.py",
    "bench_classifier.py",
    "bench_review.py",
]
NO_DATA = {
    "bench_cell_table.py",
    "bench_gating.py",
    "bench_gating_viewer.py",
    "bench_classifier.py",
    "bench_review.py",
}  # make their own data


def main() -> int:
    here = Path(__file__).parent
    extra = sys.argv[1:]
    failed = []
    for script in SCRIPTS:
        print(f"\n=== {script}", flush=True)
        args = [sys.executable, str(here / script)] + ([] if script in NO_DATA else extra)
        if subprocess.run(args).returncode:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
