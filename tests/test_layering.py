"""The compute core runs without napari, Qt or torch (CLI on Qt-less cluster workers)."""

import subprocess
import sys


def core_modules() -> list[str]:
    """Every module of the package outside ``_napari`` (found on disk, so new ones are checked)."""
    import pkgutil

    import napari_ifcell

    names = ["napari_ifcell"]
    for info in pkgutil.walk_packages(napari_ifcell.__path__, "napari_ifcell."):
        if "._napari" not in info.name and not info.name.endswith("__main__"):
            names.append(info.name)
    return names


CORE_MODULES = core_modules()
FORBIDDEN = ["napari", "qtpy", "magicgui", "PyQt5", "PyQt6", "PySide6", "torch", "vispy", "matplotlib"]


def test_core_imports_no_gui_and_no_torch():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE_MODULES)
        + f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
