"""Rasterise the nuclei of the synthetic population into label windows."""

from __future__ import annotations

import numpy as np

from napari_ifcell.synth.cells import N_HARMONICS, CellPopulation

BUCKET = 128  # px, spatial index cell size


class CellIndex:
    """Finds the cells near a window without scanning the whole population."""

    def __init__(self, cells: CellPopulation, shape: tuple[int, int]):
        self.cells = cells
        self.n_bx = shape[1] // BUCKET + 1
        by = np.clip(cells.y // BUCKET, 0, shape[0] // BUCKET).astype(np.int64)
        bx = np.clip(cells.x // BUCKET, 0, shape[1] // BUCKET).astype(np.int64)
        key = by * self.n_bx + bx
        self.order = np.argsort(key, kind="stable")
        self.sorted_keys = key[self.order]
        self.n_by = shape[0] // BUCKET + 1

    def query(self, y0: float, x0: float, y1: float, x1: float) -> np.ndarray:
        """Row indices (ascending) of cells whose centre lies in the window grown by their size."""
        m = self.cells.max_radius
        by0, by1 = max(int((y0 - m) // BUCKET), 0), min(int((y1 + m) // BUCKET), self.n_by - 1)
        bx0, bx1 = max(int((x0 - m) // BUCKET), 0), min(int((x1 + m) // BUCKET), self.n_bx - 1)
        parts = []
        for by in range(by0, by1 + 1):
            lo = np.searchsorted(self.sorted_keys, by * self.n_bx + bx0, side="left")
            hi = np.searchsorted(self.sorted_keys, by * self.n_bx + bx1, side="right")
            parts.append(self.order[lo:hi])
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return np.sort(np.concatenate(parts))


def rasterize_nuclei(
    index: CellIndex, y0: int, x0: int, h: int, w: int, *, shift: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """uint32 label window ``[y0:y0+h, x0:x0+w]``; label = row + 1; ``shift`` moves every cell.

    Where nuclei touch, the cell with the lower label keeps the pixel, so any window of
    the slide rasterises identically.
    """
    cells = index.cells
    labels = np.zeros((h, w), dtype=np.uint32)
    rows = index.query(y0 - shift[0], x0 - shift[1], y0 + h - shift[0], x0 + w - shift[1])
    harmonics = np.arange(2, 2 + N_HARMONICS)
    for i in rows:
        cy, cx = cells.y[i] + shift[0] - y0, cells.x[i] + shift[1] - x0
        amp = cells.harmonic_amp[i]
        reach = cells.semi_major[i] * (1 + amp.sum()) + 1
        ya, yb = max(int(cy - reach), 0), min(int(cy + reach) + 2, h)
        xa, xb = max(int(cx - reach), 0), min(int(cx + reach) + 2, w)
        if ya >= yb or xa >= xb:
            continue
        dy = np.arange(ya, yb)[:, None] + 0.5 - cy  # pixel centres
        dx = np.arange(xa, xb)[None, :] + 0.5 - cx
        c, s = np.cos(cells.angle[i]), np.sin(cells.angle[i])
        u = (dx * c + dy * s) / cells.semi_major[i]
        v = (-dx * s + dy * c) / cells.semi_minor[i]
        phi = np.arctan2(v, u)
        boundary = 1 + np.tensordot(
            amp, np.cos(harmonics[:, None, None] * phi + cells.harmonic_phase[i][:, None, None]), 1
        )
        inside = (u * u + v * v) <= boundary * boundary
        patch = labels[ya:yb, xa:xb]
        patch[inside & (patch == 0)] = i + 1
    return labels
