"""Segment Anything models: from a user's checkpoint, on the best device, cached.

Weights are never downloaded: the user gives a checkpoint path (ViT-H/L/B from the SAM
release), or an already built ``segment_anything`` model.
"""

from __future__ import annotations

import functools
from pathlib import Path

from napari_ifcell.core.device import resolve_device
from napari_ifcell.extras import require

MODEL_TYPES = ("vit_h", "vit_l", "vit_b")
# image-encoder depth -> model type (the checkpoint says which it is)
_DEPTH_TO_TYPE = {32: "vit_h", 24: "vit_l", 12: "vit_b"}


class SamCheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or not the model it claims; names the file."""


def load_sam(checkpoint: str | Path, *, model_type: str = "auto", device: str = "auto"):
    """A SAM model in eval mode on ``device``; the same file is loaded once (cached)."""
    path = Path(checkpoint).expanduser().resolve()
    if not path.is_file():
        raise SamCheckpointError(f"{path}: no such checkpoint file (download a SAM checkpoint and give its path)")
    return _load_cached(str(path), path.stat().st_mtime_ns, model_type, resolve_device(device))


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, mtime_ns: int, model_type: str, device: str):
    import torch

    sam_model_registry = require("segment_anything").sam_model_registry

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # never unpickle objects
    except Exception as exc:
        raise SamCheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    if not isinstance(state, dict) or not any(k.startswith("image_encoder.") for k in state):
        raise SamCheckpointError(f"{path}: not a Segment Anything checkpoint (no image_encoder weights)")
    found = checkpoint_model_type(state)
    if model_type == "auto":
        if found is None:
            raise SamCheckpointError(f"{path}: cannot tell ViT-H/L/B from the weights; give model_type")
        model_type = found
    if model_type not in MODEL_TYPES:
        raise SamCheckpointError(f"{path}: unknown model_type {model_type!r}; choose from {MODEL_TYPES}")
    if found is not None and found != model_type:
        raise SamCheckpointError(f"{path}: holds a {found} model, not {model_type}")
    model = sam_model_registry[model_type](checkpoint=None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[:3]
        raise SamCheckpointError(f"{path}: weights do not fit a {model_type} model: {' '.join(first)}") from exc
    return model.to(device).eval()


def checkpoint_model_type(state: dict) -> str | None:
    blocks = {int(k.split(".")[2]) for k in state if k.startswith("image_encoder.blocks.")}
    return _DEPTH_TO_TYPE.get(len(blocks))
