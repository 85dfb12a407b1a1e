import sys

from napari_ifcell.cli import main

sys.exit(main())
