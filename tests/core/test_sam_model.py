"""Loading SAM checkpoints: clear errors for missing, corrupt and mismatched files; a real
checkpoint (NAPARI_IFCELL_SAM_CHECKPOINT) and a GPU when this machine has them."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from napari_ifcell.core.device import resolve_device
from napari_ifcell.core.segment.sam_model import SamCheckpointError, load_sam

from ..sam_fixtures import tiny_sam

CHECKPOINT = os.environ.get("NAPARI_IFCELL_SAM_CHECKPOINT")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(SamCheckpointError, match=r"sam_vit_h\.pth: no such checkpoint file"):
        load_sam(tmp_path / "sam_vit_h.pth")


def test_corrupt_checkpoint(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"\x00\x01not a zip archive" * 100)
    with pytest.raises(SamCheckpointError, match=r"broken\.pth: not a readable PyTorch checkpoint"):
        load_sam(path)


def test_not_a_sam_checkpoint(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(SamCheckpointError, match="not a Segment Anything checkpoint"):
        load_sam(path)


def test_mismatched_checkpoint(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(tiny_sam().state_dict(), path)
    with pytest.raises(SamCheckpointError, match="cannot tell ViT-H/L/B"):
        load_sam(path)
    with pytest.raises(SamCheckpointError, match=r"tiny\.pth: weights do not fit a vit_b model"):
        load_sam(path, model_type="vit_b", device="cpu")


def test_device_resolution():
    assert resolve_device("auto") in ("cuda", "mps", "cpu")
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.skipif(not CHECKPOINT, reason="set NAPARI_IFCELL_SAM_CHECKPOINT to a SAM checkpoint to run")
def test_real_checkpoint_segments_nuclei(small_pair):
    from napari_ifcell.core.segment.sam_masks import SamSettings, sam_nuclei
    from napari_ifcell.io import open_slide

    model = load_sam(CHECKPOINT)
    assert load_sam(CHECKPOINT) is model  # cached
    with open_slide(small_pair.he_path, pixel_size_um=0.325) as he:
        tile = he.read_region(300, 300, 512, 512)
    labels = sam_nuclei(model, tile, pixel_size_um=0.325, settings=SamSettings())
    assert labels.max() > 10


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_autocast_runs():
    from napari_ifcell.core.segment.sam_masks import SamSettings, generate_masks

    model = tiny_sam().to("cuda")
    found = generate_masks(model, np.zeros((256, 256, 3), np.uint8), SamSettings(points_per_side=4))
    assert found.shape == (256, 256)
