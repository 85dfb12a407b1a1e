"""Regenerate docs/screenshot.png: the synthetic pair in napari with the Loader docked.

Run under a display (or xvfb-run): python scripts/screenshot.py [OUT_PNG]
"""

import sys
import tempfile
from pathlib import Path

from qtpy.QtWidgets import QApplication
from skimage.io import imsave

from napari_ifcell._napari.demo import run_demo
from napari_ifcell._napari.view import camera_of


def main(out: str = "docs/screenshot.png") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        viewer, loader = run_demo(Path(tmp) / "pair", shape=(2048, 2048), seed=1)
        viewer.window.resize(1500, 950)
        loader.offset_y.value, loader.offset_x.value = 0.975, -0.65  # what "Estimate" finds
        camera_of(viewer).center = (0, 300, 420)
        camera_of(viewer).zoom = 1.6
        for _ in range(30):
            QApplication.processEvents()
        imsave(out, viewer.screenshot(canvas_only=False, flash=False), check_contrast=False)
        viewer.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
