"""``python -m napari_ifcell``: the command line, as ``napari-ifcell``."""

import sys

from napari_ifcell.cli import main

if __name__ == "__main__":
    sys.exit(main())
