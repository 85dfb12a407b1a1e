"""Segmenters that come as models: a Python callable you bring (``image -> labels``) and the
learned segmenters of the field, Cellpose and InstanSeg, wrapped as callables of that kind.

Every one is called on one tile at a time (our tiling, halo and ownership do the rest) with the
image as read (a fluorescence nuclear channel ``(Y, X)`` or an H&E ``(Y, X, 3)`` uint8) and,
when it accepts it, ``pixel_size_um``. What it returns is checked: an integer label image of
the tile's shape (0 background), or a clear error naming the model.

Cellpose and InstanSeg fetch their weights on first use on a user's machine; a model file can
be given instead. Both are optional extras (``[cellpose]``, ``[instanseg]``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from napari_ifcell.core.device import resolve_device
from napari_ifcell.extras import require

LEARNED_BACKENDS = ("custom", "cellpose", "instanseg")
DEFAULT_CELLPOSE_MODEL = "cpsam"
INSTANSEG_MODELS = {"nuclear": "fluorescence_nuclei_and_cells", "he": "brightfield_nuclei"}


class ModelError(ValueError):
    """A model that cannot be loaded or that returned something other than labels."""


def split_spec(spec: str) -> tuple[str, str]:
    """``(package.module or path/to/file.py, function)`` of a custom model, or a ModelError."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ModelError(f"model {spec!r}: expected 'package.module:function' or 'file.py:function'")
    return module_name, attr


def names_a_file(model: str) -> bool:
    """Whether a Cellpose or InstanSeg model setting is a file's path rather than a model name."""
    return "/" in model or "\\" in model or model.endswith((".pt", ".pth"))


def load_callable(spec: str) -> Callable:
    """The function ``spec`` names: ``package.module:function`` or ``path/to/file.py:function``."""
    module_name, attr = split_spec(spec)
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).expanduser()
            if not path.is_file():
                raise ModelError(f"{path}: no such Python file (model {spec!r})")
            loader_spec = importlib.util.spec_from_file_location(f"napari_ifcell_user_model_{path.stem}", path)
            if loader_spec is None or loader_spec.loader is None:
                raise ModelError(f"{path}: cannot be imported as a Python module")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[loader_spec.name] = module  # as an import would: its classes can be pickled
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ModelError:
        raise
    except Exception as exc:  # the user's module failed to import: say where
        raise ModelError(f"model {spec!r}: importing {module_name} failed: {type(exc).__name__}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ModelError(f"model {spec!r}: {module_name} has no function {attr!r}")
    return fn


class TileSegmenter:
    """``segmenter(image, pixel_size_um) -> int32 labels`` around any callable, checking what
    it returns; ``name`` says which model in errors."""

    def __init__(self, fn: Callable, name: str):
        self.fn = fn
        self.name = name
        try:
            parameters = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # builtins and some C callables
            parameters = []
        self.takes_pixel_size = any(
            p.name == "pixel_size_um" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
        )

    def __call__(self, image: np.ndarray, pixel_size_um: float) -> np.ndarray:
        try:
            out = self.fn(image, pixel_size_um=pixel_size_um) if self.takes_pixel_size else self.fn(image)
        except ModelError:
            raise
        except Exception as exc:  # the model's own failure: say which model and on what
            raise ModelError(
                f"model {self.name} failed on a {image.shape} {image.dtype} tile: {type(exc).__name__}: {exc}"
            ) from exc
        return checked_labels(out, image.shape[:2], self.name)


def checked_labels(out, shape: tuple[int, int], name: str) -> np.ndarray:
    """``out`` as int32 labels of ``shape``, or a ModelError saying what came back instead."""
    if hasattr(out, "detach"):  # a torch tensor
        out = out.detach().cpu().numpy()
    if isinstance(out, tuple):
        raise ModelError(f"model {name}: returned a tuple; return the label image alone")
    out = np.asarray(out)
    if out.ndim == 3 and out.shape[0] == 1:
        out = out[0]
    if out.shape != tuple(shape):
        raise ModelError(f"model {name}: returned an array of shape {out.shape}; expected labels of shape {shape}")
    if out.dtype.kind == "f" and np.all(np.mod(out, 1) == 0):
        out = out.astype(np.int64)
    if out.dtype.kind == "b":
        raise ModelError(
            f"model {name}: returned a boolean mask; return one label per nucleus (e.g. scipy.ndimage.label(mask)[0])"
        )
    if out.dtype.kind not in "iu":
        raise ModelError(f"model {name}: returned {out.dtype} values; expected integer labels (0 = background)")
    if out.size and int(out.min()) < 0:
        raise ModelError(f"model {name}: returned negative labels; expected 0 for background and 1.. for cells")
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(out.astype(np.int64))[0].astype(np.int32)


def load_segmenter(backend: str, model: str = "", *, image_kind: str = "nuclear", device: str = "auto"):
    """The TileSegmenter of a learned backend: ``custom`` (``model`` names the callable),
    ``cellpose`` or ``instanseg`` (``model``: a model name or file; empty: the default)."""
    if backend == "custom":
        if not model:
            raise ModelError("the custom backend needs a model: 'package.module:function' or 'file.py:function'")
        return TileSegmenter(load_callable(model), model)
    if backend == "cellpose":
        name = model or DEFAULT_CELLPOSE_MODEL
        return TileSegmenter(cellpose_model(name, device=device), f"cellpose {name}")
    if backend == "instanseg":
        name = model or INSTANSEG_MODELS[image_kind]
        return TileSegmenter(instanseg_model(name, device=device), f"instanseg {name}")
    raise ModelError(f"unknown learned backend {backend!r}; choose from {LEARNED_BACKENDS}")


class CellposeTiles:
    """Cellpose on one tile: nuclei from a nuclear channel or an H&E (Cellpose-SAM reads any
    of them; its own normalisation). Built from ``cellpose.models.CellposeModel``."""

    def __init__(self, model):
        self.model = model

    def __call__(self, image: np.ndarray, pixel_size_um: float) -> np.ndarray:
        channel_axis = -1 if image.ndim == 3 else None
        masks = self.model.eval(image, channel_axis=channel_axis, normalize=True)[0]
        return np.asarray(masks)


def cellpose_model(model: str, *, device: str = "auto") -> CellposeTiles:
    """A Cellpose model by name (fetched by Cellpose on first use) or from a file."""
    require("cellpose", extra="cellpose")
    from urllib.error import URLError

    import torch
    from cellpose import models

    path = Path(model).expanduser()
    if path.is_file():
        pretrained = str(path)
    elif names_a_file(model):
        raise ModelError(f"{model}: no such Cellpose model file")
    elif model in (*models.MODEL_NAMES, *models.get_user_models()):
        pretrained = model  # Cellpose fetches it on first use
    else:  # Cellpose would quietly use its default instead
        raise ModelError(f"{model}: not a Cellpose model name ({', '.join(models.MODEL_NAMES)}) or model file")
    try:
        net = models.CellposeModel(pretrained_model=pretrained, device=torch.device(resolve_device(device)))
    except (ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"{model}: not a model Cellpose can load ({exc})") from exc
    except (URLError, TimeoutError, ConnectionError) as exc:  # a name fetched on first use, offline
        raise ModelError(
            f"{model}: Cellpose could not download this model's weights ({getattr(exc, 'reason', exc)}); "
            f"on a machine with no internet, copy them to {models.MODEL_DIR / model} or give the model file"
        ) from exc
    return CellposeTiles(net)


class InstanSegTiles:
    """InstanSeg on one tile: the image resampled to the model's pixel size and back, nuclei
    only when the model outlines nuclei and cells. Built from ``instanseg.InstanSeg``."""

    def __init__(self, instanseg):
        self.instanseg = instanseg

    def __call__(self, image: np.ndarray, pixel_size_um: float) -> np.ndarray:
        array = image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)  # channels first
        out = self.instanseg.eval_small_image(
            array.astype(np.float32), pixel_size=pixel_size_um, target="nuclei", return_image_tensor=False
        )
        labels = out.detach().cpu().numpy()
        return labels.reshape(labels.shape[-3:])[0]  # (batch, target, Y, X): nuclei come first


def instanseg_model(model: str, *, device: str = "auto") -> InstanSegTiles:
    """An InstanSeg model by name (fetched by InstanSeg on first use) or a TorchScript file."""
    require("instanseg", extra="instanseg")
    import torch
    from instanseg import InstanSeg

    path = Path(model).expanduser()
    if path.is_file() or names_a_file(model):
        if not path.is_file():
            raise ModelError(f"{model}: no such InstanSeg model file")
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise ModelError(f"{path}: not an InstanSeg TorchScript model ({exc})") from exc
        return InstanSegTiles(InstanSeg(module, device=resolve_device(device), verbosity=0))
    try:
        return InstanSegTiles(InstanSeg(model, device=resolve_device(device), verbosity=0))
    except Exception as exc:  # InstanSeg raises a bare Exception for a name it does not know
        raise ModelError(f"{model}: InstanSeg could not load this model ({exc})") from exc
