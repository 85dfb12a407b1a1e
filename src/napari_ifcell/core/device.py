"""Where torch work runs: CUDA, then Apple MPS, then the CPU; mixed precision on a GPU."""

from __future__ import annotations

from contextlib import nullcontext

from napari_ifcell.extras import require


def resolve_device(device: str = "auto") -> str:
    """``auto``: CUDA, then Apple MPS, then CPU; anything else is checked and returned."""
    torch = require("torch")

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for but CUDA is not available; use 'auto' or 'cpu'")
    return device


def autocast(device: str):
    """bf16 (or fp16) autocast on a GPU; nothing on the CPU."""
    import torch

    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return nullcontext()


def model_device(model) -> str:
    return str(next(model.parameters()).device)
