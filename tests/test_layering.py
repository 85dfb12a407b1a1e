"""The compute core runs without napari, Qt or torch (CLI on Qt-less cluster workers)."""

import subprocess
import sys

CORE_MODULES = [
    "napari_ifcell", "napari_ifcell.io", "napari_ifcell.core.registration", "napari_ifcell.core.display",
    "napari_ifcell.synth", "napari_ifcell.cli", "napari_ifcell.pipeline", "napari_ifcell.core.quantify",
    "napari_ifcell.core.gating", "napari_ifcell.core.phenotypes", "napari_ifcell.core.gate_apply",
    "napari_ifcell.core.auto_gate", "napari_ifcell.core.gating_session", "napari_ifcell.core.lookup_view",
    "napari_ifcell.io.cell_table", "napari_ifcell.io.gate_file", "napari_ifcell.io.label_store",
    "napari_ifcell.pipeline.segment", "napari_ifcell.core.sam_masks", "napari_ifcell.core.sam_model",
    "napari_ifcell.core.nuclei_classic", "napari_ifcell.pipeline.run", "napari_ifcell.pipeline.run_settings",
    "napari_ifcell.core.classifier", "napari_ifcell.core.training", "napari_ifcell.core.patches",
    "napari_ifcell.core.sampling", "napari_ifcell.core.overlay", "napari_ifcell.pipeline.dataset",
    "napari_ifcell.pipeline.classify", "napari_ifcell.cli.classifiers", "napari_ifcell.cli.cells",
]  # fmt: skip
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
