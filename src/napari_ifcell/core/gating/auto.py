"""Suggested gates from the data: a Gaussian mixture on transformed intensities.

The positive population is the mixture component with the highest mean, when it is a population
of its own. Held by fewer than half the cells, it must stand apart (Ashman's D) from the
negative cells and from the component just below it (a lognormal background's long tail is
fitted by a chain of overlapping components), and be brighter than the median cell. Held by most
cells (CD45 in a lymphocyte-rich region, where the median cell is a positive one), the mixture's
density must dip between it and a negative population of its own, and it must be far brighter
than them: a blank channel over two levels of background is not a marker most cells carry. A
broad population most cells hold may be fitted by two components, neither held by half the
cells: they are taken together as the positive population when the density falls into a clear
valley below them and does not dip between them, and their weighted mean is far brighter than
the negative cells. The uncertain band is where its posterior probability is between ``low`` and
``high``; over-exposure starts far above the positive population (or near the camera's
saturation). A marker without such a population (a blank channel) gets thresholds far above the
median cell.

The asinh cofactor is the customary 150 of a 16-bit camera's range, scaled to the table's full
scale, so the same tissue stored as 16-bit, 8-bit or 0-1 floating-point intensities gets the
same gates.
"""

from __future__ import annotations

import numpy as np

from napari_ifcell.core.gating.gates import MarkerGate, forward, inverse, now_iso

MAX_CELLS = 100_000
MIN_SEPARATION = 2.0  # Ashman's D between a minority positive component and the negative one
MIN_FOLD = 1.5  # a minority positive mean over the median cell, in raw intensity
MAX_DIP = 0.98  # lowest mixture density between negative and majority positive means, over the lower peak
MAX_SPLIT_DIP = 0.8  # ... under a population the mixture split in two: a clear valley (unimodal noise: 0.89-0.99)
MIN_MAJORITY_FOLD = 4.0  # a majority positive mean over the negative mean, in raw intensity
MIN_NEGATIVE_CELLS = 20  # under a majority positive population: fewer is a split-off tail of noise
MIN_WEIGHT = 0.005  # a component holding fewer cells is outliers, not a population
COFACTOR_16_BIT = 150.0  # the asinh cofactor of 16-bit intensities; other scales get it scaled


def ashman_d(mu1, sd1, mu2, sd2) -> float:
    """Separation of two Gaussians; above 2 they form two clean populations."""
    return float(np.sqrt(2) * abs(mu1 - mu2) / np.sqrt(sd1**2 + sd2**2))


def suggest_gate(
    values: np.ndarray,
    marker: str,
    *,
    compartment: str = "cell",
    transform: str = "asinh",
    cofactor: float | None = None,
    low: float = 0.05,
    high: float = 0.95,
    overexposed_sd: float = 6.0,
    saturation: float | None = None,
    seed: int = 0,
) -> MarkerGate:
    """A starting gate for one marker from per-cell values (raw intensities). ``saturation``:
    the camera's full scale in these units, when known (over-exposure starts just below it);
    ``cofactor``: by default 150 for a 16-bit scale, scaled to ``saturation``."""
    from sklearn.mixture import GaussianMixture

    if cofactor is None:
        cofactor = COFACTOR_16_BIT * (saturation or 65535.0) / 65535.0
    x = forward(values, transform, cofactor)
    x = x[np.isfinite(x)]
    if x.size < 10:
        raise ValueError(f"{marker}: too few cells ({x.size}) to suggest a gate")
    rng = np.random.default_rng(seed)
    if x.size > MAX_CELLS:
        x = rng.choice(x, MAX_CELLS, replace=False)
    # a few over-exposed cells would pull a component of their own: clip them, as scimap does
    fit_x = np.clip(_spread_whole_counts(x, transform, cofactor, rng), *np.percentile(x, [0.1, 99.9]))[:, None]
    components = [k for k in (2, 3) if k <= np.unique(fit_x).size]  # a blank channel has one value
    if not components:
        return _auto_gate(
            marker, _outlier_thresholds(x, transform, cofactor, saturation), compartment, transform, cofactor
        )
    fits = [GaussianMixture(k, random_state=seed, n_init=3).fit(fit_x) for k in components]
    gmm = min(fits, key=lambda g: g.bic(fit_x))
    means, sds, weights = gmm.means_[:, 0], np.sqrt(gmm.covariances_.reshape(-1)), gmm.weights_
    # positive: the brightest component that is not a handful of cells; negative: the
    # most populous of the others
    candidates = np.flatnonzero(weights >= MIN_WEIGHT)
    top = int(candidates[np.argmax(means[candidates])])
    others = [i for i in range(len(means)) if i != top]
    bulk = max(others, key=lambda i: weights[i])
    mu, sd = means[top], sds[top]
    fold = inverse(mu, transform, cofactor) / max(float(inverse(np.median(x), transform, cofactor)), 1e-9)
    below = max((i for i in others if means[i] < mu), key=lambda i: means[i], default=bulk)  # its neighbour
    population = (
        ashman_d(mu, sd, means[bulk], sds[bulk]) >= MIN_SEPARATION
        and ashman_d(mu, sd, means[below], sds[below]) >= MIN_SEPARATION
        and fold >= MIN_FOLD
    )
    if not population and weights[top] > 0.5:  # the median cell is a positive one: against the negative cells
        fold = inverse(mu, transform, cofactor) / max(float(inverse(means[bulk], transform, cofactor)), 1e-9)
        # cells at the lowest value (outside the IF field, clipped by a background subtraction)
        # are no negative population: a spike of them at 0 made any blank channel "positive"
        negative_cells = np.sum((gmm.predict(fit_x) == bulk) & (x > x.min()))
        population = (
            _dips_between(gmm, means[bulk], mu) and fold >= MIN_MAJORITY_FOLD and negative_cells >= MIN_NEGATIVE_CELLS
        )
    positive, lowest = [top], mu  # the positive components, and the lowest of their means
    if not population and len(means) == 3:  # a majority positive population the mixture split in two
        order = np.argsort(means)
        neg, split = int(order[0]), [int(i) for i in order[1:]]
        low_pos = split[0]
        # the population's own brightness (its components' weighted mean), not its brighter half's
        merged = float(np.average(inverse(means[split], transform, cofactor), weights=weights[split]))
        fold = merged / max(float(inverse(means[neg], transform, cofactor)), 1e-9)
        negative_cells = np.sum((gmm.predict(fit_x) == neg) & (x > x.min()))
        population = (
            weights[split].sum() > 0.5
            and _dips_between(gmm, means[neg], means[low_pos], max_dip=MAX_SPLIT_DIP)
            and not _dips_between(gmm, means[low_pos], means[top])  # one population, two components
            and fold >= MIN_MAJORITY_FOLD
            and ashman_d(means[low_pos], sds[low_pos], means[neg], sds[neg]) >= MIN_SEPARATION
            and negative_cells >= MIN_NEGATIVE_CELLS
        )
        if population:
            positive, lowest = split, float(means[low_pos])
    if not population:
        # no distinct positive population (a blank channel): only far outliers are positive
        return _auto_gate(
            marker, _outlier_thresholds(x, transform, cofactor, saturation), compartment, transform, cofactor
        )
    grid = np.linspace(x.min(), max(x.max(), mu + overexposed_sd * sd), 4096)
    posterior = gmm.predict_proba(grid[:, None])[:, positive].sum(axis=1)
    below_mu = grid <= lowest
    # last crossing below the positive mean: the band just under the positive population
    t1 = _last_crossing(grid, posterior, low, below_mu)
    t2 = max(_last_crossing(grid, posterior, high, below_mu), t1)
    t3 = mu + overexposed_sd * sd
    if saturation is not None:
        t3 = min(t3, forward(saturation * 0.98, transform, cofactor))
    raw = inverse(np.array([t1, t2, max(t3, t2)]), transform, cofactor)
    return _auto_gate(marker, raw, compartment, transform, cofactor)


def _dips_between(gmm, low_mean: float, high_mean: float, *, max_dip: float = MAX_DIP) -> bool:
    """Whether the mixture's density falls between two means (two modes): a skewed population
    of noise fitted by a chain of components has none."""
    lo, hi = sorted((float(low_mean), float(high_mean)))
    density = np.exp(gmm.score_samples(np.linspace(lo, hi, 512)[:, None]))
    return bool(density.min() < max_dip * min(density[0], density[-1]))


def _spread_whole_counts(x: np.ndarray, transform: str, cofactor: float, rng) -> np.ndarray:
    """Transformed values to fit, whole counts spread evenly over their count's width: cells of
    a dim integer channel fall on a few values, and a mixture fits each as a mode of its own."""
    raw = inverse(x, transform, cofactor)
    whole = np.allclose(raw, np.round(raw), rtol=0, atol=1e-6)
    if not whole or np.unique(np.round(raw)).size <= 2:  # two values are left to the outlier gate
        return x
    return forward(np.round(raw) + rng.uniform(-0.5, 0.5, raw.size), transform, cofactor)


def _outlier_thresholds(x: np.ndarray, transform: str, cofactor: float, saturation: float | None) -> np.ndarray:
    """Raw thresholds 4, 6 and 12 robust spreads above the median of transformed values ``x``,
    for a marker without a positive population. Where most cells share one value (a blank or
    dim integer channel) the spread is at least one count of a 16-bit camera: with none, every
    cell sat on all three thresholds and the whole slide read over-exposed."""
    centre = float(np.median(x))
    spread = 1.4826 * float(np.median(np.abs(x - centre))) or float(np.std(x))
    one_count = float(forward(inverse(centre, transform, cofactor) + cofactor / COFACTOR_16_BIT, transform, cofactor))
    spread = max(spread, one_count - centre)
    raw = inverse(centre + np.array([4.0, 6.0, 12.0]) * spread, transform, cofactor)
    if saturation is not None:  # over-exposure never past what the camera records
        raw = np.minimum(raw, 0.98 * saturation)
    return raw


def full_scale(table, columns) -> float:
    """The camera's full scale in a table's units, from its brightest cell mean: 65535 for 16-bit
    images, 255 for 8-bit ones, 1 for floating-point images scaled to 0-1."""
    values = [table[c].to_numpy(float) for c in columns]
    finite = [v[np.isfinite(v)] for v in values]
    brightest = max((float(v.max()) for v in finite if v.size), default=None)
    if brightest is None or brightest > 255:  # no values at all: the common 16-bit case
        return 65535.0
    return 255.0 if brightest > 1 else 1.0


def _auto_gate(marker: str, raw: np.ndarray, compartment: str, transform: str, cofactor: float) -> MarkerGate:
    """A suggested gate from three raw thresholds."""
    thresholds = (float(raw[0]), float(raw[1]), float(raw[2]))
    return MarkerGate(
        marker,
        thresholds,
        compartment=compartment,
        transform=transform,
        cofactor=cofactor,
        source="auto",
        set_at=now_iso(),
    )


def _last_crossing(grid, posterior, level, mask) -> float:
    """Smallest grid value from which the posterior stays >= level up to the positive mean."""
    below = np.flatnonzero(mask & (posterior < level))
    if below.size == 0:
        return float(grid[0])
    index = min(below[-1] + 1, grid.size - 1)
    return float(grid[index])


def suggest_gates(table, markers, *, compartments=None, **kwargs) -> dict[str, MarkerGate]:
    """Suggested gates for several markers of a cell table (``<marker>_<compartment>_mean``)."""
    compartments = compartments or {}
    if "saturation" not in kwargs:
        kwargs["saturation"] = full_scale(table, [f"{m}_{compartments.get(m, 'cell')}_mean" for m in markers])
    out = {}
    for marker in markers:
        compartment = compartments.get(marker, "cell")
        out[marker] = suggest_gate(
            table[f"{marker}_{compartment}_mean"].to_numpy(), marker, compartment=compartment, **kwargs
        )
    return out


def suggested_gateset(table, *, markers=None, nuclear_markers=None, slide: str = "", **kwargs):
    """Gates suggested for every marker of a cell table, with the default hierarchy and
    phenotype rules kept where their markers are present (other panels than Orion's work).

    Returns the GateSet and the suggestions (to reset to).
    """
    from napari_ifcell.core.gating.gateset import with_default_rules
    from napari_ifcell.orion import NUCLEAR_MARKERS

    nuclear = NUCLEAR_MARKERS if nuclear_markers is None else set(nuclear_markers)
    if markers is None:
        markers = [c[: -len("_cell_mean")] for c in table.columns if c.endswith("_cell_mean")]
    compartments = {m: "nucleus" for m in markers if m in nuclear and f"{m}_nucleus_mean" in table.columns}
    gates = suggest_gates(table, markers, compartments=compartments, **kwargs)
    missing = "the table has no {markers} column (<marker>_cell_mean)"
    return with_default_rules(gates, slide=slide, missing=missing), gates
