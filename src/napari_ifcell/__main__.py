"""``python -m napari_ifcell``: the command line, as ``napari-ifcell``."""

import sys

from napari_ifcell.cli import main

sys.exit(main())
