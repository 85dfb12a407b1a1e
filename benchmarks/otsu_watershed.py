"""The reference the segmentation issue measured real tissue with: a 20-line Otsu +
distance-transform watershed, written as a user brings a function to the ``custom`` backend
(``--backend custom --model benchmarks/otsu_watershed.py:nuclei``)."""

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_otsu
from skimage.segmentation import watershed


def nuclei(image, pixel_size_um):
    """Nuclei of a nuclear stain ``(Y, X)`` or an H&E ``(Y, X, 3)`` (its hematoxylin)."""
    if image.ndim == 3:
        from skimage.color import rgb2hed

        image = rgb2hed(image)[..., 0]
    smooth = gaussian(np.asarray(image, float), 1.0)
    mask = ndi.binary_fill_holes(smooth > threshold_otsu(smooth))
    distance = ndi.distance_transform_edt(mask)
    spacing = max(1, round(2.0 / pixel_size_um))
    peaks = peak_local_max(distance, min_distance=spacing, labels=ndi.label(mask)[0], exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask)
