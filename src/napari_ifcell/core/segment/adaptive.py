"""The CPU default: nuclei from a nuclear stain that holds on uneven, crowded, blurred tissue.

Every length is a multiple of a typical nucleus radius (given in µm, or estimated from the
image by :func:`estimate_nucleus_radius`), so the method needs no tuning per pixel size:

1. background: subtract a grey opening (minimum then maximum filter) eight radii wide, which
   takes away haze and autofluorescence without eating into dense clusters;
2. foreground: pixels above the background's own noise (its mode and the spread of its
   lower side, so half the image may be nuclei), or above a threshold given;
3. cores: foreground brighter than its neighbourhood (a local mean five radii wide), which
   cuts touching nuclei apart at the dimmer seams between them;
4. seeds: maxima of the cores' distance transform, at least 0.6 radii apart (shape-aware
   splitting of clumps), and a watershed of the cores from them;
5. outlines: each nucleus grows into the foreground down to half its own mean brightness
   (the edge of a blurred nucleus is where its profile is at half height), so dim and bright
   nuclei are outlined alike;
6. edges: a nucleus's rim is far brighter than the ring just outside it; an object whose
   edge is no such step is haze the floor could not follow (a band of autofluorescence,
   between fibres, beside glass), and is dropped.

Where there is no tissue to see (a stitched slide's unscanned runs of exact 0, the glass
around and inside an H&E section, or fluorescence glass far darker than the tissue beside it),
the signal is taken as the nearest tissue's and no nucleus is drawn: the step from tissue to
nothing would otherwise drop the background floor and turn the tissue beside it into a band of
nuclei.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

BACKGROUND_WIDTH = 8.0  # radii
LOCAL_WIDTH = 5.0  # radii
SEED_SPACING = 0.6  # radii
SEED_DEPTH = 0.25  # radii: a core thinner than this gets no seed of its own
OPENING = 0.3  # radii: cores narrower than this are noise or a seam
EDGE_LEVEL = 0.5  # of a nucleus's mean brightness
RING_WIDTH = 0.5  # radii: the rim and the ring outside it, compared by drop_faint
NOISE_MULTIPLE = 4.0
OUTLINE_SMOOTHING_PX = 1.0  # outlines from a barely smoothed image: blur shrinks small nuclei
GLASS_OD = 0.15  # summed over R, G, B (log10): RGB about 227 each; tissue, even pale stroma, is above
RADIUS_RANGE_UM = (1.5, 9.0)  # lymphocyte to large tumour nuclei
RADIUS_RANGE_PX = (2.0, 40.0)  # when the pixel size is unknown

Edges = tuple[bool, bool, bool, bool]  # top, bottom, left, right
ALL_EDGES: Edges = (True, True, True, True)  # a whole image
NO_EDGES: Edges = (False, False, False, False)  # every side mirrored, as scipy does


def adaptive_nuclei(
    signal: np.ndarray,
    *,
    radius_px: float,
    threshold: float | None = None,
    min_area_px: float = 0.0,
    max_area_px: float = np.inf,
    no_image: np.ndarray | None = None,
    slide_edges: Edges = ALL_EDGES,
    dark_is_glass: bool = True,
) -> np.ndarray:
    """int32 nuclei labels (1..n) of a nuclear stain signal (Hoechst, or hematoxylin density).

    ``radius_px``: a typical nucleus radius (see :func:`estimate_nucleus_radius`);
    ``threshold``: foreground cut above the local background (default: 4 x its noise);
    ``no_image``: a mask of pixels without tissue (a stitched slide's unscanned runs of 0:
    :func:`no_data`; H&E glass: :func:`glass`);
    ``slide_edges``: which sides (top, bottom, left, right) of ``signal`` are the slide's edges
    (default: all, a whole image; a tile's window passes its own).
    ``dark_is_glass``: a fluorescence signal, whose glass far darker than the tissue beside
    it is no tissue (:func:`dark_glass`; H&E passes its glass in ``no_image`` instead).
    """
    from skimage.segmentation import watershed

    from napari_ifcell.core.segment.sizes import filter_by_area

    if radius_px <= 0:
        raise ValueError(f"radius_px must be > 0, got {radius_px}")
    r = float(radius_px)
    signal = np.asarray(signal, np.float32)
    if slide_edges == ALL_EDGES and min(signal.shape) < 2 * _odd(BACKGROUND_WIDTH * r):
        # a whole image too small to be a slide (a user's exported crop): its sides cut through
        # tissue, so mirrored as a window's; its dark gaps between nuclei are not glass
        slide_edges, dark_is_glass = NO_EDGES, False
    missing = no_image if no_image is not None and no_image.any() else None
    if missing is not None:
        if missing.all():
            return np.zeros(signal.shape, np.int32)
        signal = fill_with_background(signal, missing)
    smooth, floor, level, noise = _background(signal, r, slide_edges, missing)
    dark = dark_glass(smooth, floor + level, NOISE_MULTIPLE * noise, r) if dark_is_glass else None
    if dark is not None:  # a step down to glass: the tissue beside it runs on across it
        # with the glass's blurred rim, neither glass nor tissue
        dark = ndi.binary_dilation(dark, _disc(OPENING * r))
        missing = dark if missing is None else missing | dark
        if missing.all():
            return np.zeros(signal.shape, np.int32)
        signal = fill_with_background(signal, missing)
        smooth, floor, level, noise = _background(signal, r, slide_edges, missing)
    above = smooth - floor - level
    cut = NOISE_MULTIPLE * noise if threshold is None else threshold
    foreground = above > cut
    if not foreground.any():
        return np.zeros(above.shape, np.int32)
    cores = foreground & (above > ndi.uniform_filter(above, _odd(LOCAL_WIDTH * r)))
    cores = fill_holes(ndi.binary_opening(cores, _disc(OPENING * r)))
    depth = ndi.gaussian_filter(ndi.distance_transform_edt(cores), 1.0)
    seeds = (depth == ndi.maximum_filter(depth, _odd(2 * SEED_SPACING * r))) & (depth > SEED_DEPTH * r)
    markers, n = ndi.label(seeds)
    labels = watershed(-depth, markers, mask=cores)
    # Grow each core into the foreground down to half its own brightness.
    soft = ndi.gaussian_filter(signal, OUTLINE_SMOOTHING_PX) - floor - level
    mean = np.asarray(ndi.mean(soft, labels, np.arange(1, n + 1)), np.float32)
    grown = grow_labels(soft, labels, foreground)
    edge = np.concatenate([[np.inf], EDGE_LEVEL * mean]).astype(np.float32)
    labels = np.where(soft >= edge[grown], grown, 0)
    if missing is not None:
        labels[missing] = 0
    labels = drop_faint(labels, soft, cut, r)
    return filter_by_area(labels, min_area_px, max_area_px)


def grow_labels(brightness: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``labels`` grown into ``mask`` by a watershed on ``-brightness`` (brightest first), as
    ``watershed(-brightness, labels, mask=mask)``. A pixel whose four neighbours all share its
    label can give no pixel outside away, so it is neither queued nor flooded: the queue holds
    the labels' rims, not their areas (half the time of the plain call on tissue tiles). The
    same labels wherever two labels' rims do not tie exactly in brightness at a pixel both
    reach (the library breaks such ties by its queue's order, which the shorter queue changes)."""
    from skimage.segmentation import watershed

    mask = np.asarray(mask, bool)
    inner = (labels > 0) & mask  # the library drops labels outside the mask
    inner[1:] &= labels[1:] == labels[:-1]
    inner[:-1] &= labels[:-1] == labels[1:]
    inner[:, 1:] &= labels[:, 1:] == labels[:, :-1]
    inner[:, :-1] &= labels[:, :-1] == labels[:, 1:]
    grown = watershed(-brightness, np.where(inner, 0, labels), mask=mask & ~inner)
    grown[inner] = labels[inner]
    return grown


def drop_faint(labels: np.ndarray, soft: np.ndarray, cut: float, radius_px: float) -> np.ndarray:
    """``labels`` without the objects whose edge is no step: the mean ``soft`` brightness of
    their rim (their pixels within ``RING_WIDTH`` radii of the background) less than ``cut``
    above that of the ring just outside them (as wide, pixels of no object). A nucleus's edge
    drops by far more than the noise; haze the floor did not follow (a band of
    autofluorescence, the glow beside glass) slopes too gently to. An object touching no
    background (inside a crowd) is kept. Ring pixels near two objects count for neither:
    beside a bright nucleus they would make a dim neighbour's edge look like no step."""
    n = int(labels.max())
    if n == 0:
        return labels
    width = _odd(2 * RING_WIDTH * radius_px)
    nearest_high = ndi.maximum_filter(labels, width)
    wide = np.result_type(labels.dtype, np.min_scalar_type(n + 1))  # n + 1 without wrapping round
    nearest_low = ndi.minimum_filter(np.where(labels == 0, wide.type(n + 1), labels.astype(wide, copy=False)), width)
    outside = np.where((labels == 0) & (nearest_low == nearest_high), nearest_high, 0).ravel()
    near_background = ndi.maximum_filter((labels == 0).view(np.uint8), width).view(bool)
    rim = np.where(near_background, labels, 0).ravel()
    values = soft.ravel()
    rim_mean, _ = _means_per_label(rim, values, n)
    outside_mean, outside_px = _means_per_label(outside, values, n)
    step = rim_mean - outside_mean
    faint = (outside_px > 0) & (step < cut)
    faint[0] = True
    return np.where(faint[labels], 0, labels)


def _means_per_label(labels: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean value, pixel count)`` per label 0..n of flat ``labels``, summed over the labelled
    pixels only (most pixels of a ring or rim image are 0)."""
    where = np.flatnonzero(labels)
    counts = np.bincount(labels[where], None, n + 1)
    sums = np.bincount(labels[where], values[where].astype(np.float64), n + 1)
    return sums / np.maximum(counts, 1), counts


def _background(
    signal: np.ndarray, r: float, slide_edges: Edges, missing: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """``(smoothed signal, background floor, level and noise above the floor)``; the level and
    noise from the pixels that have an image (a filled gap's copies would outvote them)."""
    smooth = ndi.gaussian_filter(signal, max(0.5, 0.12 * r))
    floor = grey_background(smooth, BACKGROUND_WIDTH * r, slide_edges)
    level, noise = background_noise(smooth - floor, missing)
    return smooth, floor, level, noise


def dark_glass(smooth: np.ndarray, floor: np.ndarray, cut: float, radius_px: float) -> np.ndarray | None:
    """Where a fluorescence image shows glass much darker than the tissue beside it (around
    the section, in holes and tears). ``smooth``: the image smoothed; ``floor``: its
    background floor; ``cut``: a height well above the tissue's noise (not a user's nucleus
    threshold). Runs a nucleus wide that sink more than ``cut`` below the floor (a step down
    drags the floor with it), grown to the dark runs they are part of (within ``cut``, or the
    glass's own noise, of their median), unless those enclose anything brighter than the
    floor by ``cut``: a dark background with a nucleus in it is tissue. None when there are
    none."""
    sunk = wide_runs(smooth < floor - cut, radius_px)
    if sunk is None:
        return None
    values = smooth[sunk]
    middle = float(np.median(values))
    spread = NOISE_MULTIPLE * 1.4826 * float(np.median(np.abs(values - middle)))
    dark = wide_runs(smooth < middle + max(cut, spread), radius_px)
    if dark is None:
        return None
    regions, n = ndi.label(fill_holes(dark))
    enclosed = (regions > 0) & ~dark
    holds_nucleus = np.bincount(regions[enclosed & (smooth > floor + cut)], minlength=n + 1) > 0
    holds_sunk = np.bincount(regions[sunk], minlength=n + 1) > 0
    glass_regions = holds_sunk & ~holds_nucleus
    found = dark & glass_regions[regions]  # dark pixels lie in a region: never region 0
    return found if found.any() else None


def no_data(signal: np.ndarray, radius_px: float) -> np.ndarray | None:
    """Where a stitched slide has no image: runs of exact 0 at least a nucleus wide, when the
    background is well above 0 (raw camera counts; in a background-subtracted image 0 is
    the background itself). None when there are none. A background subtraction would read
    the step down to 0 at their edge as a band of bright nuclei."""
    width = _odd(2 * radius_px)
    zero = signal == 0
    if zero.sum() < width * width:  # the common case, decided in one pass
        return None
    level, noise = background_noise(signal)
    if level <= NOISE_MULTIPLE * noise:
        return None
    return wide_runs(zero, radius_px)


def glass(rgb: np.ndarray, radius_px: float) -> np.ndarray | None:
    """Where an H&E image shows bare glass (around the section, in holes, tears and fat): runs,
    at least a nucleus wide, of pixels whose optical density summed over R, G and B is below
    ``GLASS_OD``. None when there are none. Black (a scanner's fill) counts as glass."""
    rgb = np.asarray(rgb)
    transmitted = np.maximum(rgb.astype(np.float32) / white_of(rgb), 1 / 255)
    bare = (-np.log10(transmitted).sum(axis=-1) < GLASS_OD) | ~rgb.any(axis=-1)
    return wide_runs(bare, radius_px)


def white_of(rgb: np.ndarray) -> float:
    """White in an RGB array: its integer type's maximum, or 1.0 for floats (taken as 0..1,
    as scikit-image reads them)."""
    return float(np.iinfo(rgb.dtype).max) if np.issubdtype(rgb.dtype, np.integer) else 1.0


def wide_runs(mask: np.ndarray, radius_px: float) -> np.ndarray | None:
    """``mask`` opened by a square a nucleus wide (what is left is no single pixel or thin
    line), or None when nothing is left."""
    width = _odd(2 * radius_px)
    if mask.sum() < width * width:
        return None
    run = ndi.maximum_filter(ndi.minimum_filter(mask.view(np.uint8), width), width)
    return run.view(bool) if run.any() else None


def fill_with_background(signal: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``signal`` with each ``missing`` pixel given the value of the nearest pixel that has an
    image: the background runs on across the gap without a step at its edge. (Measured on a
    gap cut into the realistic synthetic slide: filling with the nearest pixels' local minimum
    or a grey opening left 1.5-5x more false nucleus pixels along the gap than this.)"""
    iy, ix = ndi.distance_transform_edt(missing, return_distances=False, return_indices=True)
    return signal[iy, ix]


def fill_no_data(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(signal, where it has no data)``: a float slide's pixels without data (NaN or infinite,
    e.g. outside a warped field) given the median of the others, so they make no edge (0 where
    none has data); None where every pixel has data."""
    signal = np.asarray(signal)
    if signal.dtype.kind != "f":
        return signal, None
    no_data = ~np.isfinite(signal)
    if not no_data.any():
        return signal, None
    fill = np.median(signal[~no_data]) if not no_data.all() else 0
    return np.where(no_data, fill, signal).astype(signal.dtype, copy=False), no_data


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndi.binary_fill_holes`` (4-connected holes) by labelling the background once: what
    does not reach the border is a hole. Several times faster than its iterated dilation."""
    background, _ = ndi.label(~mask)
    edges = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
    open_to_border = np.zeros(int(background.max()) + 1, bool)
    open_to_border[edges] = True
    return mask | ~open_to_border[background]


def grey_background(image: np.ndarray, width: float, slide_edges: Edges = ALL_EDGES) -> np.ndarray:
    """A smooth floor under the nuclei: grey opening ``width`` px wide, then a box mean.

    ``slide_edges`` (top, bottom, left, right): the sides of ``image`` that are the slide's own
    edges; the others are a window's, which scipy's mirroring suits. Mirrored at the slide's
    edge, a background that rises towards it becomes a peak the opening cuts off, and the band
    beside the edge reads as nuclei; there the opening sees the image extended by its edge
    values, and the box mean the opened floor continued by its own slope (point-mirrored)."""
    size = _odd(width)
    top, bottom, left, right = (size - 1 if edge else 0 for edge in slide_edges)
    pads = ((top, bottom), (left, right))
    inner = tuple(slice(a, a + n) for (a, _), n in zip(pads, image.shape, strict=True))
    extended = np.pad(image, pads, mode="edge")
    opened = ndi.maximum_filter(ndi.minimum_filter(extended, size), size)[inner]
    continued = np.pad(opened, pads, mode="reflect", reflect_type="odd")
    return ndi.uniform_filter(continued, size)[inner]


def background_noise(values: np.ndarray, ignore: np.ndarray | None = None) -> tuple[float, float]:
    """``(level, noise)`` of the background: the histogram's mode and the spread of the values
    below it (mirrored), so nuclei covering most of the image do not inflate it. Flat areas
    (the fill beyond a slide's edge, saturated glass) are left out: they have no noise; so are
    the pixels ``ignore`` marks."""
    varying = np.zeros(values.shape, bool)  # differs from its right or lower neighbour
    varying[:, :-1] |= values[:, :-1] != values[:, 1:]
    varying[:-1] |= values[:-1] != values[1:]
    if ignore is not None:
        varying &= ~ignore
    x = values[varying] if varying.any() else values.ravel()
    x = x[:: max(1, x.size // 200_000)]
    # The background's mode is sought in the lowest 40 % of the values: a window of a lymphoid
    # aggregate, where nuclei cover most pixels, still has its background there.
    lo, hi = np.percentile(x, [0.5, 40])
    if hi <= lo:
        return float(lo), 1e-6
    hist, edges = np.histogram(x, 256, (lo, hi))
    peak = int(np.argmax(ndi.gaussian_filter1d(hist.astype(np.float64), 2)))
    mode = float(edges[peak] + edges[peak + 1]) / 2
    below = mode - x[x < mode]
    return mode, float(1.4826 * np.median(below)) + 1e-6 if below.size else 1e-6


def estimate_nucleus_radius(images: list[np.ndarray], *, pixel_size_um: float | None = None) -> float:
    """Typical nucleus radius in pixels over one or more stain images: the scale at which the
    scale-normalised Laplacian of Gaussian responds most strongly (its top 0.5 %, summed over
    the images); a disc of radius r responds most at sigma = r / sqrt 2. With a pixel size the
    search spans 1.5-9 µm, without it 2-40 px."""
    if pixel_size_um:
        lo, hi = (v / pixel_size_um for v in RADIUS_RANGE_UM)
    else:
        lo, hi = RADIUS_RANGE_PX
    radii = np.geomspace(lo, hi, 16)
    strength = np.zeros(radii.size)
    for signal in images:
        image, no_data = fill_no_data(np.asarray(signal, np.float32))
        if no_data is not None and no_data.all():
            continue
        image = ndi.gaussian_filter(image, 1.0)
        image -= grey_background(image, 2.5 * hi, NO_EDGES)  # samples of the slide, as before
        for i, sigma in enumerate(radii / np.sqrt(2)):
            strength[i] += np.percentile(-(sigma * sigma) * ndi.gaussian_laplace(image, sigma), 99.5)
    return float(radii[np.argmax(strength)])


def _odd(width: float) -> int:
    return max(1, int(round(width))) | 1


def _disc(radius: float) -> np.ndarray:
    k = max(1, int(round(radius)))
    yy, xx = np.ogrid[-k : k + 1, -k : k + 1]
    return yy * yy + xx * xx <= k * k
