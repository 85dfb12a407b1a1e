"""H&E-only cell classifiers: a small CNN that trains on a CPU in minutes, or a standard
backbone with weights the user has locally; a softmax head over classes (Immunocto) or one
sigmoid output per marker (Pochet) on a shared backbone.

Models are saved as a state dict plus a JSON config and loaded with
``torch.load(weights_only=True)``: no arbitrary objects are unpickled.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from napari_ifcell.core.classes import CLASSES
from napari_ifcell.core.settings import settings_from_mapping
from napari_ifcell.extras import require

TASKS = ("multiclass", "multitask")
BACKBONES = ("small_cnn", "resnet18")
INPUTS = {"he": 3, "hoechst": 1, "he+hoechst": 4}


@dataclass(frozen=True)
class ClassifierConfig:
    """What a model predicts from what, and how it trains (shared by GUI, CLI and files)."""

    task: str = "multiclass"
    classes: tuple[str, ...] = CLASSES
    markers: tuple[str, ...] = ("CD45", "CD3e", "CD4", "CD8a")
    input: str = "he"
    patch_size: int = 64
    um_per_px: float = 0.325  # the resolution it was trained at (set from the slide the data set came from)
    backbone: str = "small_cnn"
    backbone_weights: str | None = None
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    grad_accumulation: int = 1
    patience: int = 6
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    extra: dict = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task == "multiclass" else len(self.markers)

    def problems(self) -> list[str]:
        out = []
        if self.task not in TASKS:
            out.append(f"unknown task {self.task!r}; choose from {TASKS}")
        if self.backbone not in BACKBONES:
            out.append(f"unknown backbone {self.backbone!r}; choose from {BACKBONES}")
        if self.input not in INPUTS:
            out.append(f"unknown input {self.input!r}; choose from {tuple(INPUTS)}")
        if not self.um_per_px > 0:
            out.append(f"um_per_px must be > 0, got {self.um_per_px}")
        if self.patch_size < 16:
            out.append(f"patch_size must be >= 16, got {self.patch_size}")
        if min(self.epochs, self.batch_size, self.grad_accumulation) < 1 or self.learning_rate <= 0:
            out.append("epochs, batch_size, grad_accumulation must be >= 1 and learning_rate > 0")
        if self.n_outputs < 1:
            out.append("no classes / markers to predict")
        return out

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, doc: Any, *, path: str | Path | None = None) -> ClassifierConfig:
        """From ``to_json``'s mapping; every problem (names, types, values) in one ValueError."""
        problems: list[str] = []
        config = settings_from_mapping(cls, doc, "config", problems)
        if config is not None:
            problems += [f"config: {p}" for p in config.problems()]
        if problems:
            where = f"{path}: " if path is not None else ""
            raise ValueError(
                f"{where}{len(problems)} problem(s) in the classifier config:\n  - " + "\n  - ".join(problems)
            )
        return config


def read_config(folder: str | Path) -> ClassifierConfig:
    """The config in ``folder/config.json``: of a saved classifier or of an exported data set."""
    path = Path(folder) / "config.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file; expected a classifier or data set folder") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from None
    if isinstance(doc, dict) and "format" in doc:  # a saved classifier: the config beside its history
        doc = doc.get("config")
    return ClassifierConfig.from_json(doc, path=path)


def saved_id(folder: str | Path) -> str | None:
    """The ``id`` :func:`save_classifier` gave the model in ``folder`` (None for a model saved
    before models had one, or a folder without a readable model)."""
    try:
        doc = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc.get("id") if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None


def build_model(config: ClassifierConfig):
    """An untrained network for ``config`` (weights for a standard backbone from a local file)."""
    torch = require("torch")
    from torch import nn

    channels = INPUTS[config.input]
    if config.backbone == "resnet18":
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        if config.backbone_weights:
            state = torch.load(config.backbone_weights, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        if channels != 3:
            net.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
        net.fc = nn.Linear(net.fc.in_features, config.n_outputs)
        return net

    def norm(c):
        return nn.BatchNorm2d(c)  # statistics recalibrated after each epoch (core.training)

    def block(cin, cout):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            norm(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            norm(cout),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )

    # stride-2 stem: a 64 px patch is worked on at 32 px, enough for nuclei of 10-40 px;
    # ~12 M multiply-adds per patch, so a CPU classifies thousands of cells per second
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, stride=2, padding=1, bias=False),
        norm(16),
        nn.ReLU(inplace=True),
        block(16, 16),
        block(16, 32),
        block(32, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(64, config.n_outputs),
    )


LEARNT_FILE = "learnt_cells.parquet"  # beside a saved model: the cells it trained and validated on


def save_classifier(
    model,
    config: ClassifierConfig,
    folder: str | Path,
    *,
    history: list | None = None,
    learnt=None,
    dataset: str | Path | None = None,
) -> Path:
    """``weights.pt`` (state dict) + ``config.json``, written atomically; ``config.json`` gets a
    new ``id`` each time, so predictions can tell the model that made them from one saved over it.

    ``learnt``: the cells it trained and validated on (CellID and centroid columns), kept beside
    it so that it is scored later on the other cells only; ``dataset``: the folder they came from.
    """
    torch = require("torch")

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".weights.pt.partial"
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, folder / "weights.pt")
    if learnt is not None:
        tmp = folder / f".{LEARNT_FILE}.partial"
        learnt.to_parquet(tmp, index=False)
        os.replace(tmp, folder / LEARNT_FILE)
    else:  # an earlier model's cells, saved into this folder, are not this model's
        (folder / LEARNT_FILE).unlink(missing_ok=True)
    doc = {
        "format": "napari-ifcell classifier",
        "version": 1,
        "id": uuid.uuid4().hex,
        "config": config.to_json(),
        "history": history or [],
    }
    if dataset is not None:
        doc["dataset"] = str(Path(dataset).resolve())
    tmp = folder / ".config.json.partial"
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, folder / "config.json")
    return folder


def load_classifier(folder: str | Path, *, device: str = "cpu"):
    """(model in eval mode, config) from a folder written by :func:`save_classifier`."""
    torch = require("torch")

    folder = Path(folder)
    config = read_config(folder)
    model = build_model(config)
    try:
        state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise ValueError(f"{folder / 'weights.pt'}: cannot load the weights ({exc})") from exc
    return model.to(device).eval(), config
