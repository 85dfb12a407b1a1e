"""Which cells go into a training set, and how they are split without leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd


def sample_per_class(classes: np.ndarray, n_per_class: int, *, seed: int = 0) -> np.ndarray:
    """Row indices: up to ``n_per_class`` cells of every class (Immunocto's balanced sets)."""
    rng = np.random.default_rng(seed)
    picked = []
    for cls in pd.unique(classes):
        rows = np.flatnonzero(classes == cls)
        picked.append(rng.choice(rows, size=min(n_per_class, rows.size), replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def sample_marker_balanced(positive: pd.DataFrame, n: int, *, seed: int = 0, min_share: float = 0.25) -> np.ndarray:
    """Pochet et al.'s sampling: half the cells negative for every marker; in the other half,
    at least ``min_share`` of it positive for each marker (as far as the slide has them).

    ``positive``: one boolean column per marker (True = positive; unknown counted as not).
    """
    rng = np.random.default_rng(seed)
    flags = positive.to_numpy(bool)
    all_negative = np.flatnonzero(~flags.any(axis=1))
    some_positive = np.flatnonzero(flags.any(axis=1))
    half = n // 2
    chosen = list(rng.choice(all_negative, size=min(half, all_negative.size), replace=False))
    remaining = n - len(chosen)
    taken = set()
    per_marker = int(np.ceil(min_share * remaining))
    for column in range(flags.shape[1]):
        rows = np.array([r for r in np.flatnonzero(flags[:, column]) if r not in taken])
        if rows.size:
            pick = rng.choice(rows, size=min(per_marker, rows.size), replace=False)
            taken.update(pick.tolist())
    rest = np.array([r for r in some_positive if r not in taken])
    fill = max(0, remaining - len(taken))
    if rest.size and fill:
        taken.update(rng.choice(rest, size=min(fill, rest.size), replace=False).tolist())
    chosen.extend(sorted(taken)[:remaining] if len(taken) > remaining else sorted(taken))
    return np.sort(np.array(chosen, dtype=np.int64))


def spatial_split(
    xy_um: np.ndarray, *, block_um: float = 250.0, fractions=(0.7, 0.15, 0.15), buffer_um: float = 20.0, seed: int = 0
) -> np.ndarray:
    """ "train" / "val" / "test" / "buffer" per cell by square blocks of the slide.

    Whole blocks go to one split, so neighbouring cells (which share context) never straddle
    train and test; cells within ``buffer_um`` of a border with another split are dropped
    ("buffer"), since a patch centred there would see the other split's cells.
    """
    rng = np.random.default_rng(seed)
    block = np.floor(np.asarray(xy_um) / block_um).astype(np.int64)
    ids, inverse = np.unique(block, axis=0, return_inverse=True)
    order = rng.permutation(len(ids))
    cut = np.cumsum(np.asarray(fractions) / np.sum(fractions)) * len(ids)
    assignment = np.searchsorted(cut, np.arange(len(ids)) + 0.5, side="right")[np.argsort(order)]
    split_of_block = {tuple(b): a for b, a in zip(ids, assignment)}
    names = np.array(["train", "val", "test"])
    split = assignment[inverse.ravel()]
    offset = np.asarray(xy_um) / block_um - block  # position inside the block, 0..1
    near = buffer_um / block_um
    out = names[split].astype(object)
    for axis, step in ((0, (1, 0)), (1, (0, 1))):
        for side, delta in ((offset[:, axis] < near, -1), (offset[:, axis] > 1 - near, 1)):
            neighbour = block + np.array(step) * delta
            other = np.array([split_of_block.get(tuple(n), s) for n, s in zip(neighbour, split)])
            out[side & (other != split)] = "buffer"
    return out
