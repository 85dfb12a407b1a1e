"""npe2 sample data: a small synthetic Orion-like pair, generated once and cached.

The first time, generating takes a while: File > Open Sample returns at once with a
placeholder layer, the pair is generated in a worker with a progress bar in napari's
activity dock, and its layers replace the placeholder when ready."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

import numpy as np

SAMPLE_SHAPE = (2048, 2048)
SAMPLE_SEED = 0
PLACEHOLDER = "sample pair: generating (see the activity dock)..."


def sample_cache_dir() -> Path:
    base = os.environ.get("NAPARI_IFCELL_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "napari-ifcell" / f"sample-{SAMPLE_SHAPE[0]}x{SAMPLE_SHAPE[1]}-seed{SAMPLE_SEED}"


def make_sample_pair() -> list[tuple]:
    """H&E, the 19 IF channels and the true nuclei, as layer data (a placeholder while the
    pair is first generated in the background)."""
    import napari

    from napari_ifcell._napari.workers import is_sync
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    files = SyntheticPair.in_folder(sample_cache_dir())
    viewer = napari.current_viewer()
    if files.exists():
        return sample_layer_data(files)
    if viewer is None or is_sync():
        make_synthetic_pair(files.folder, shape=SAMPLE_SHAPE, seed=SAMPLE_SEED, tile=512)
        return sample_layer_data(files)
    generate_in_background(viewer, files)
    return [(np.zeros((1, 1), np.uint8), {"name": PLACEHOLDER, "opacity": 0.0}, "image")]


def sample_layer_data(files) -> list[tuple]:
    from napari_ifcell._napari.layers import he_layer_data, if_layer_data, labels_layer_data
    from napari_ifcell.io import open_pair, open_slide

    pair = open_pair(files.if_path, files.he_path)
    scale, translate = pair.he_world_transform()
    truth = open_slide(files.labels_path)
    return [
        he_layer_data(pair.he_slide, scale=scale, translate=translate),
        if_layer_data(pair.if_slide),
        labels_layer_data(truth, name="true nuclei"),
    ]


def generation_steps(files):
    """Generate the pair in a thread, yielding its progress ``(stage, i, n)``; returns ``files``."""
    from napari_ifcell.synth import make_synthetic_pair

    steps: queue.Queue = queue.Queue()
    failure: list[BaseException] = []

    def generate():
        try:
            make_synthetic_pair(
                files.folder, shape=SAMPLE_SHAPE, seed=SAMPLE_SEED, tile=512, progress=lambda *s: steps.put(s)
            )
        except BaseException as exc:  # noqa: BLE001 - raised again in the worker, reported there
            failure.append(exc)
        finally:
            steps.put(None)

    threading.Thread(target=generate, name="sample-pair", daemon=True).start()
    while (step := steps.get()) is not None:
        yield step
    if failure:
        raise failure[0]
    return files


def generate_in_background(viewer, files):
    """Generate the pair off the GUI thread with a progress bar; then show its layers."""
    from napari.utils import progress
    from napari.utils.notifications import show_error

    from napari_ifcell._napari.workers import run_steps_in_background

    bar = progress(total=0, desc="Generating the sample pair")

    def on_progress(step) -> None:
        stage, i, n = step
        bar.total, bar.n = n, i
        bar.set_description(f"Sample pair: {stage}")
        viewer.status = f"Generating the sample pair: {stage} {i} of {n}"

    def finish():
        bar.close()
        if PLACEHOLDER in viewer.layers:
            viewer.layers.remove(PLACEHOLDER)

    def on_done(done) -> None:
        finish()
        for data, kwargs, kind in sample_layer_data(done):
            getattr(viewer, f"add_{kind}")(data, **kwargs)  # add_image splits the IF channels

    def on_error(exc: Exception) -> None:
        finish()
        show_error(f"The sample pair could not be generated in {files.folder}: {exc}")

    return run_steps_in_background(
        generation_steps(files), on_progress=on_progress, on_done=on_done, on_error=on_error, cancel=threading.Event()
    )
