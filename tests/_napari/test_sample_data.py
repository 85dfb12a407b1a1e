import numpy as np

from napari_ifcell._napari import sample_data
from napari_ifcell.orion import ORION_CHANNELS


def test_sample_pair_opens_he_if_and_truth(make_napari_viewer, monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_IFCELL_CACHE", str(tmp_path))
    monkeypatch.setattr(sample_data, "SAMPLE_SHAPE", (384, 512))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-ifcell", "synthetic-pair")
    names = [layer.name for layer in viewer.layers]
    assert names[0].startswith("H&E") and names[1:20] == list(ORION_CHANNELS) and names[20] == "true nuclei"
    he = viewer.layers[0]
    # the synthetic registration error is for the user to find (Loader widget): not pre-corrected
    np.testing.assert_allclose(he.translate, (0.0, 0.0))
    assert tuple(he.scale) == (0.325, 0.325)
    truth = viewer.layers["true nuclei"]
    assert truth.data.shape == (384, 512) and not truth.visible  # one level: fits in a tile
    first = sorted(p.name for p in sample_data.sample_cache_dir().iterdir())
    viewer.open_sample("napari-ifcell", "synthetic-pair")  # reuses the cached files
    assert sorted(p.name for p in sample_data.sample_cache_dir().iterdir()) == first


def test_first_open_sample_generates_in_the_background_with_progress(make_napari_viewer, monkeypatch, tmp_path, qtbot):
    """Open Sample returns at once (a placeholder layer), the GUI stays live while the pair is
    generated, and the real layers replace the placeholder."""
    from napari_ifcell._napari.workers import SYNC_ENV

    monkeypatch.delenv(SYNC_ENV)
    monkeypatch.setenv("NAPARI_IFCELL_CACHE", str(tmp_path))
    monkeypatch.setattr(sample_data, "SAMPLE_SHAPE", (384, 512))
    viewer = make_napari_viewer()
    statuses = []
    viewer.events.status.connect(lambda event: statuses.append(event.value))
    viewer.open_sample("napari-ifcell", "synthetic-pair")
    assert [layer.name for layer in viewer.layers] == [sample_data.PLACEHOLDER]
    qtbot.waitUntil(lambda: len(viewer.layers) == 21, timeout=120_000)
    names = [layer.name for layer in viewer.layers]
    assert sample_data.PLACEHOLDER not in names and names[1:20] == list(ORION_CHANNELS)
    assert any(s.startswith("Generating the sample pair: ") for s in statuses)  # progress was shown
