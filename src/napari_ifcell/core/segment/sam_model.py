"""Segment Anything models: from a user's checkpoint, on the best device, cached.

Weights are never downloaded: the user gives a checkpoint path, or an already built
``segment_anything`` model. Checkpoint layouts read (:func:`sam_state_dict`):

- the SAM release's ViT-H/L/B files and micro-sam's exported models (``vit_b_lm``,
  ``vit_b_histopathology``...): a plain state dict, for micro-sam's models with a
  ``decoder_state`` entry (its instance-segmentation decoder, which this backend does not use);
- micro-sam / torch_em training checkpoints: ``model_state`` with ``sam.`` (or, trained on
  several GPUs, ``module.sam.``) before every key.

MobileSAM (``vit_t``) files are recognised and refused: its TinyViT encoder is only published
on GitHub (not on PyPI), so there is no well-kept package to build it from.
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
        loaded = torch.load(path, map_location="cpu", weights_only=True)  # never unpickle objects
    except Exception as exc:
        if "Unsupported global" in str(exc):  # torch names the class it would have to unpickle
            raise SamCheckpointError(
                f"{path}: the checkpoint holds pickled Python objects besides weights (a training checkpoint "
                "saved with its optimizer or config objects); they are not unpickled for safety. Save its "
                "weights alone, e.g. with micro_sam.util.export_custom_sam_model, and give that file"
            ) from exc
        raise SamCheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    state = sam_state_dict(loaded, path)
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


def sam_state_dict(loaded, path) -> dict:
    """The SAM weights in ``loaded`` (what torch.load gave), whatever the layout (see the
    module docstring); a file of something else is refused naming what it looks like."""
    if not isinstance(loaded, dict):
        raise SamCheckpointError(f"{path}: not a Segment Anything checkpoint (holds a {type(loaded).__name__})")
    state = loaded
    if isinstance(loaded.get("model_state"), dict):  # micro-sam / torch_em training checkpoint
        state = loaded["model_state"]
    state = {_without_prefixes(k): v for k, v in state.items() if k != "decoder_state"}
    if any(k.startswith("image_encoder.layers.") for k in state):
        raise SamCheckpointError(
            f"{path}: a MobileSAM (vit_t) checkpoint; its TinyViT encoder needs the mobile_sam package, which "
            "is not on PyPI and not supported here: use a vit_b, vit_l or vit_h checkpoint"
        )
    if not any(k.startswith("image_encoder.") for k in state):
        keys = ", ".join(list(state)[:3]) or "nothing"
        raise SamCheckpointError(
            f"{path}: not a Segment Anything checkpoint (no image_encoder weights; its first keys: {keys}). "
            "Read: SAM release files, micro-sam exported models, micro-sam training checkpoints (model_state)"
        )
    return state


def _without_prefixes(key: str) -> str:
    for prefix in ("module.", "sam."):  # multi-GPU training, then micro-sam's wrapper
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def checkpoint_model_type(state: dict) -> str | None:
    blocks = {int(k.split(".")[2]) for k in state if k.startswith("image_encoder.blocks.")}
    return _DEPTH_TO_TYPE.get(len(blocks))
