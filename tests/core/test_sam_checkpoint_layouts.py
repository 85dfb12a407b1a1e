"""SAM weights in the layouts users have: the SAM release's plain state dict, micro-sam's
exported models (with their instance-segmentation decoder) and micro-sam / torch_em training
checkpoints (``model_state``, ``sam.`` and ``module.sam.`` prefixes). Each file is written from
the small random SAM in that layout; loading it must give back exactly its weights."""

from __future__ import annotations

import pytest
import segment_anything
import torch

from napari_ifcell.core.segment import sam_model
from napari_ifcell.core.segment.sam_model import SamCheckpointError, load_sam

from ..sam_fixtures import tiny_sam


class TrainerConfig:
    """Stands for the objects a training checkpoint pickles next to its weights."""


@pytest.fixture
def tiny_registry(monkeypatch):
    """The registry's vit_b builds the small SAM, and a one-block encoder reads as vit_b."""
    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_b", lambda checkpoint=None: tiny_sam(seed=1))
    monkeypatch.setitem(sam_model._DEPTH_TO_TYPE, 1, "vit_b")
    sam_model._load_cached.cache_clear()
    yield
    sam_model._load_cached.cache_clear()


def _decoder_state():
    return {"base.weight": torch.ones(4, 4), "out_conv.bias": torch.zeros(3)}


LAYOUTS = {
    "SAM release": lambda w: w,
    "micro-sam exported (with AIS decoder)": lambda w: {**w, "decoder_state": _decoder_state()},
    "micro-sam training checkpoint": lambda w: {
        "model_state": {f"sam.{k}": v for k, v in w.items()},
        "decoder_state": _decoder_state(),
        "iteration": 1200,
        "best_metric": 0.31,
    },
    "trained on several GPUs": lambda w: {"model_state": {f"module.sam.{k}": v for k, v in w.items()}},
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_loads_the_weights_it_holds(tmp_path, tiny_registry, layout):
    weights = tiny_sam(seed=0).state_dict()
    path = tmp_path / "model.pt"
    torch.save(LAYOUTS[layout](weights), path)
    model = load_sam(path, device="cpu")
    loaded = model.state_dict()
    assert set(loaded) == set(weights)
    assert all(torch.equal(loaded[k], weights[k]) for k in weights)  # seed 0's, not the builder's seed 1


def test_mobile_sam_is_named(tmp_path, tiny_registry):
    path = tmp_path / "mobile_sam.pt"
    torch.save({"image_encoder.layers.0.blocks.0.attn.qkv.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(SamCheckpointError, match=r"mobile_sam\.pt: a MobileSAM \(vit_t\) checkpoint"):
        load_sam(path, device="cpu")


def test_a_checkpoint_with_pickled_objects_is_not_unpickled(tmp_path, tiny_registry):
    path = tmp_path / "best.pt"
    weights = {f"sam.{k}": v for k, v in tiny_sam().state_dict().items()}
    torch.save({"model_state": weights, "init": TrainerConfig()}, path)
    with pytest.raises(SamCheckpointError, match=r"best\.pt: .*pickled Python objects.*export_custom_sam_model"):
        load_sam(path, device="cpu")


def test_another_model_names_its_keys(tmp_path, tiny_registry):
    path = tmp_path / "cpsam"
    torch.save({"W2": torch.zeros(1), "encoder.patch_embed.proj.weight": torch.zeros(1)}, path)
    with pytest.raises(SamCheckpointError, match=r"cpsam: not a Segment Anything checkpoint .*first keys: W2"):
        load_sam(path, device="cpu")
