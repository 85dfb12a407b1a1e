"""Reading and writing slides, tables and stores. Knows nothing of napari."""

from napari_ifcell.io.errors import SlideError, SlideMetadataError, SlideReadError
from napari_ifcell.io.pair import SlidePair, open_pair
from napari_ifcell.io.slide import Slide
from napari_ifcell.io.slide_open import open_slide

__all__ = [
    "Slide",
    "SlideError",
    "SlideMetadataError",
    "SlidePair",
    "SlideReadError",
    "open_pair",
    "open_slide",
]
