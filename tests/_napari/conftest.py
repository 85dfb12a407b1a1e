import pytest

from napari_ifcell._napari.workers import SYNC_ENV


@pytest.fixture(autouse=True)
def synchronous_workers(monkeypatch):
    """Widget work runs inline so a test sees its result at once."""
    monkeypatch.setenv(SYNC_ENV, "1")
