"""One-to-one matching of predicted and true cells by centroid distance (OCELOT style).

Pairs closer than a radius (in µm) are candidates; an optimal assignment (scipy's
``linear_sum_assignment``) picks the largest set of one-to-one pairs, and among those the one
with the smallest total distance. The problem is solved per connected group of candidates,
so a million cells never make a dense million-square cost matrix.
"""

from __future__ import annotations

import numpy as np


def match_points(truth_um: np.ndarray, predicted_um: np.ndarray, *, radius_um: float = 3.0) -> np.ndarray:
    """``(K, 2)`` index pairs ``(truth_row, predicted_row)``; coordinates ``(N, 2)`` in µm.

    A pair is a candidate when its distance is ``<= radius_um``.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    truth_um = np.asarray(truth_um, np.float64).reshape(-1, 2)
    predicted_um = np.asarray(predicted_um, np.float64).reshape(-1, 2)
    nt, n_pred = len(truth_um), len(predicted_um)
    if nt == 0 or n_pred == 0:
        return np.zeros((0, 2), np.int64)
    # "ndarray" output keeps pairs at distance 0, which a sparse matrix would drop
    near = cKDTree(truth_um).sparse_distance_matrix(cKDTree(predicted_um), radius_um, output_type="ndarray")
    t, p, d = near["i"], near["j"], near["v"]
    if len(t) == 0:
        return np.zeros((0, 2), np.int64)
    graph = coo_matrix((np.ones(len(t)), (t, nt + p)), shape=(nt + n_pred, nt + n_pred))
    _, component = connected_components(graph, directed=False)
    group = component[t]
    order = np.argsort(group, kind="stable")
    t, p, d, group = t[order], p[order], d[order], group[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], len(group)]
    pairs = []
    for s, e in zip(starts, ends):
        if e - s == 1:  # one candidate pair: nothing to choose
            pairs.append((t[s], p[s]))
            continue
        rows, row_of = np.unique(t[s:e], return_inverse=True)
        cols, col_of = np.unique(p[s:e], return_inverse=True)
        # a non-candidate costs more than any set of candidates, so the assignment first
        # maximises the number of candidate pairs, then minimises their distance
        big = (radius_um + 1.0) * (min(len(rows), len(cols)) + 1)
        cost = np.full((len(rows), len(cols)), big)
        cost[row_of, col_of] = d[s:e]
        r, c = linear_sum_assignment(cost)
        keep = cost[r, c] < big
        pairs.extend(zip(rows[r[keep]], cols[c[keep]]))
    return np.asarray(sorted(pairs), np.int64).reshape(-1, 2)
