"""The npe2 manifest is valid and every python_name in it imports."""

import importlib
import subprocess
import sys
from pathlib import Path

import yaml

MANIFEST = Path(__file__).parents[1] / "napari.yaml"


def test_every_python_name_resolves():
    commands = yaml.safe_load(MANIFEST.read_text())["contributions"]["commands"]
    for command in commands:
        module, attr = command["python_name"].split(":")
        assert callable(getattr(importlib.import_module(module), attr)), command["id"]


def test_npe2_validate():
    done = subprocess.run([sys.executable, "-m", "npe2", "validate", "napari-ifcell"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout


def test_installed_package_ships_the_manifest():
    import napari_ifcell

    shipped = Path(napari_ifcell.__file__).parent / "napari.yaml"
    assert shipped.read_text() == MANIFEST.read_text()
