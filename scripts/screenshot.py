"""Regenerate the README's screenshots from the synthetic pair, as a user would see them:

- docs/screenshot.png: the pair in napari with the Loader docked;
- docs/screenshot_segment.png: the Segment tab after "Segment visible region" with the
  automatic backend (the nuclei layer over the H&E and IF).

Run under a display (or xvfb-run): python scripts/screenshot.py [OUT_FOLDER]
"""

import sys
import tempfile
from pathlib import Path

from qtpy.QtWidgets import QApplication
from skimage.io import imsave

from napari_ifcell._napari.demo import raise_dock, run_demo
from napari_ifcell._napari.view import camera_of


def _settle() -> None:
    for _ in range(30):
        QApplication.processEvents()


def main(out: str = "docs") -> None:
    out_dir = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        viewer, loader = run_demo(Path(tmp) / "pair", shape=(2048, 2048), seed=1)
        viewer.window.resize(1500, 950)
        loader.offset_y.value, loader.offset_x.value = 0.975, -0.65  # what "Estimate" finds
        camera_of(viewer).center = (0, 300, 420)
        camera_of(viewer).zoom = 1.6
        _settle()
        imsave(out_dir / "screenshot.png", viewer.screenshot(canvas_only=False, flash=False), check_contrast=False)

        segment = viewer.window.dock_widgets["Segment"]
        raise_dock(viewer, "Segment")
        segment.segment_visible(sync=True)  # the automatic backend: Hoechst watershed on the IF
        _settle()
        print(segment.status.value)
        imsave(
            out_dir / "screenshot_segment.png",
            viewer.screenshot(canvas_only=False, flash=False),
            check_contrast=False,
        )
        viewer.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
