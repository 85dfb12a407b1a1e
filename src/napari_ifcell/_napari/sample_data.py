"""npe2 sample data: a small synthetic Orion-like pair, generated once and cached."""

from __future__ import annotations

import os
from pathlib import Path

SAMPLE_SHAPE = (2048, 2048)
SAMPLE_SEED = 0


def sample_cache_dir() -> Path:
    base = os.environ.get("NAPARI_IFCELL_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "napari-ifcell" / f"sample-{SAMPLE_SHAPE[0]}x{SAMPLE_SHAPE[1]}-seed{SAMPLE_SEED}"


def make_sample_pair() -> list[tuple]:
    """H&E, the 19 IF channels and the true nuclei, as layer data."""
    from napari_ifcell._napari.layers import he_layer_data, if_layer_data, labels_layer_data
    from napari_ifcell.io import open_pair, open_slide
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    pair_files = SyntheticPair.in_folder(sample_cache_dir())
    if not pair_files.exists():
        make_synthetic_pair(pair_files.folder, shape=SAMPLE_SHAPE, seed=SAMPLE_SEED, tile=512)
    pair = open_pair(pair_files.if_path, pair_files.he_path)
    scale, translate = pair.he_world_transform()
    truth = open_slide(pair_files.labels_path)
    return [
        he_layer_data(pair.he_slide, scale=scale, translate=translate),
        if_layer_data(pair.if_slide),
        labels_layer_data(truth, name="true nuclei"),
    ]
