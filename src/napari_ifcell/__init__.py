"""napari-ifcell: co-registered H&E and multiplex IF whole-slide images in napari.

Importing this package pulls in no napari, Qt or torch; the napari layer lives in
``napari_ifcell._napari``.
"""

__version__ = "0.1.0"
