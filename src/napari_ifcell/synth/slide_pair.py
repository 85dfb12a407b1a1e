"""Generate the synthetic Orion-like slide pair and its ground truth, block by block."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_ifcell.io.atomic import atomic_write
from napari_ifcell.io.pyramid_writer import write_pyramidal_ome_tiff
from napari_ifcell.orion import ORION_CHANNELS, ORION_PIXEL_SIZE_UM
from napari_ifcell.synth.cells import make_artefacts, make_cells
from napari_ifcell.synth.difficulty import DEFAULT as DEFAULT_DIFFICULTY
from napari_ifcell.synth.difficulty import Difficulty, difficulty_named
from napari_ifcell.synth.layout import REGION_CODES, make_layout
from napari_ifcell.synth.markers import CELL_TYPES
from napari_ifcell.synth.raster import CellIndex
from napari_ifcell.synth.render import Scene, make_fibres, make_waves, render_block
from napari_ifcell.synth.truth import cell_table

Progress = Callable[[str, int, int], None]

IF_NAME = "synthetic_if.ome.tif"
HE_NAME = "synthetic_he.ome.tif"
LABELS_NAME = "synthetic_nuclei.ome.tif"
CELLS_NAME = "synthetic_cells.csv"
TRUTH_NAME = "synthetic_truth.json"


@dataclass(frozen=True)
class SyntheticPair:
    """Paths of a generated pair and its ground truth."""

    folder: Path
    if_path: Path
    he_path: Path
    labels_path: Path
    cells_path: Path
    truth_path: Path

    @classmethod
    def in_folder(cls, folder: str | Path) -> SyntheticPair:
        folder = Path(folder)
        return cls(
            folder, folder / IF_NAME, folder / HE_NAME, folder / LABELS_NAME, folder / CELLS_NAME, folder / TRUTH_NAME
        )

    def exists(self) -> bool:
        return all(
            p.is_file() for p in (self.if_path, self.he_path, self.labels_path, self.cells_path, self.truth_path)
        )


def build_scene(
    shape: tuple[int, int],
    seed: int,
    *,
    he_offset_px=(3.0, -2.0),
    pixel_size_um=ORION_PIXEL_SIZE_UM,
    difficulty: str | Difficulty = DEFAULT_DIFFICULTY,
) -> Scene:
    """The slide's content (layout, cells, artefacts) as data, before any pixel is drawn."""
    difficulty = difficulty_named(difficulty)
    rng = np.random.default_rng(seed)
    layout = make_layout(shape, rng, pixel_size_um=pixel_size_um)
    cells = make_cells(layout, rng, pixel_size_um=pixel_size_um, difficulty=difficulty)
    artefacts = make_artefacts(layout, cells, rng, pixel_size_um=pixel_size_um)
    fibres = make_fibres(rng)
    # Focus and haze vary over a few hundred µm: several patches on a 2,000 px slide.
    px_per_um = 1 / pixel_size_um
    patches = (1 / (600 * px_per_um), 1 / (150 * px_per_um))
    spread = difficulty.he_stain_variation
    return Scene(
        layout,
        cells,
        artefacts,
        CellIndex(cells, shape),
        tuple(map(float, he_offset_px)),
        seed,
        fibres,
        difficulty,
        focus=make_waves(rng, 4, patches),
        haze=make_waves(rng, 4, patches),
        he_stain=(float(rng.uniform(1 - spread, 1 + spread)), float(rng.uniform(1 - spread, 1 + spread))),
    )


def make_synthetic_pair(
    out_dir: str | Path,
    *,
    shape: tuple[int, int] = (4096, 4096),
    seed: int = 0,
    he_offset_px: tuple[float, float] = (3.0, -2.0),
    pixel_size_um: float = ORION_PIXEL_SIZE_UM,
    tile: int = 1024,
    block: int = 1024,
    he_planar: bool = False,
    he_pixel_size_in_file: bool = False,
    difficulty: str | Difficulty = DEFAULT_DIFFICULTY,
    progress: Progress | None = None,
) -> SyntheticPair:
    """Write a seeded, Orion-like IF + H&E pair with ground truth into ``out_dir``.

    Parameters
    ----------
    shape : (height, width)
        Level-0 size in pixels.
    he_offset_px : (dy, dx)
        Residual registration error: a nucleus at IF pixel p is drawn at p + offset in the H&E.
    he_planar : bool
        Store the H&E planar ``(3, Y, X)`` instead of interleaved.
    he_pixel_size_in_file : bool
        Write the H&E pixel size; by default it is left out, as in Orion's H&E files.
    difficulty : ``"realistic"`` (default) or ``"easy"``
        How hard the nuclei are to segment (see :mod:`napari_ifcell.synth.difficulty`).
    progress : callable(stage, i, n), optional

    Returns
    -------
    SyntheticPair
        IF OME-TIFF (19 channels, uint16), H&E OME-TIFF (RGB uint8), nuclei labels
        OME-TIFF (uint32), cell table CSV and a JSON summary.
    """
    out = SyntheticPair.in_folder(out_dir)
    h, w = shape
    scene = build_scene(shape, seed, he_offset_px=he_offset_px, pixel_size_um=pixel_size_um, difficulty=difficulty)
    if not scene.cells:  # a pair of no cells is no ground truth to test against
        raise ValueError(f"size: a {h} x {w} px slide holds no cell; give a larger size")
    out.folder.mkdir(parents=True, exist_ok=True)
    n_labels = len(scene.cells) + 1
    sums = np.zeros((3, n_labels))  # pixel count, sum of y, sum of x per label
    with tempfile.TemporaryDirectory(dir=out.folder, prefix=".synth-") as tmp:
        tmp = Path(tmp)
        if_mm = np.memmap(tmp / "if.dat", np.uint16, "w+", shape=(len(ORION_CHANNELS), h, w))
        he_shape = (3, h, w) if he_planar else (h, w, 3)
        he_mm = np.memmap(tmp / "he.dat", np.uint8, "w+", shape=he_shape)
        lab_mm = np.memmap(tmp / "labels.dat", np.uint32, "w+", shape=(h, w))
        blocks = [(y, x) for y in range(0, h, block) for x in range(0, w, block)]
        for i, (y0, x0) in enumerate(blocks):
            if progress:  # (stage, blocks done, blocks)
                progress("render", i, len(blocks))
            bh, bw = min(block, h - y0), min(block, w - x0)
            labels, if_img, he = render_block(scene, y0, x0, bh, bw)
            lab_mm[y0 : y0 + bh, x0 : x0 + bw] = labels
            if_mm[:, y0 : y0 + bh, x0 : x0 + bw] = if_img
            if he_planar:
                he_mm[:, y0 : y0 + bh, x0 : x0 + bw] = np.moveaxis(he, -1, 0)
            else:
                he_mm[y0 : y0 + bh, x0 : x0 + bw] = he
            _accumulate_centroids(sums, labels, y0, x0)
        if progress:
            progress("render", len(blocks), len(blocks))
        write_pyramidal_ome_tiff(
            out.if_path,
            if_mm,
            axes="CYX",
            channel_names=ORION_CHANNELS,
            pixel_size_um=pixel_size_um,
            tile=tile,
            progress=progress,
        )
        write_pyramidal_ome_tiff(
            out.he_path,
            he_mm,
            axes="SYX" if he_planar else "YXS",
            pixel_size_um=pixel_size_um if he_pixel_size_in_file else None,
            tile=tile,
            progress=progress,
        )
        write_pyramidal_ome_tiff(
            out.labels_path,
            lab_mm,
            axes="YX",
            channel_names=["nuclei"],
            pixel_size_um=pixel_size_um,
            tile=tile,
            downsample="nearest",
            progress=progress,
        )
        del if_mm, he_mm, lab_mm
    table = cell_table(scene, sums, pixel_size_um)
    atomic_write(out.cells_path, lambda p: table.to_csv(p, index=False))
    summary = {
        "seed": seed,
        "difficulty": scene.difficulty.name,
        "shape": [h, w],
        "pixel_size_um": pixel_size_um,
        "he_offset_px": list(scene.he_shift_px),
        "he_offset_um": [v * pixel_size_um for v in scene.he_shift_px],
        "channels": list(ORION_CHANNELS),
        "cell_types": list(CELL_TYPES),
        "regions": REGION_CODES,
        "n_cells": int(len(table)),
        "cells_per_type": {t: int(n) for t, n in table["type"].value_counts().items()},
        "files": {"if": IF_NAME, "he": HE_NAME, "labels": LABELS_NAME, "cells": CELLS_NAME},
    }
    atomic_write(out.truth_path, lambda p: Path(p).write_text(json.dumps(summary, indent=2)))
    return out


def _accumulate_centroids(sums: np.ndarray, labels: np.ndarray, y0: int, x0: int) -> None:
    flat = labels.ravel()
    yy, xx = np.indices(labels.shape)
    n = sums.shape[1]
    sums[0] += np.bincount(flat, minlength=n)
    sums[1] += np.bincount(flat, weights=(yy + y0).ravel(), minlength=n)
    sums[2] += np.bincount(flat, weights=(xx + x0).ravel(), minlength=n)
