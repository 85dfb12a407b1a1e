"""Training and inference for the cell classifiers (PyTorch, imported only here)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from napari_ifcell.core.classify.model import ClassifierConfig, build_model

Progress = Callable[[str, int, int], None]


def to_tensor(patches: np.ndarray):
    """``(N, S, S, C)`` uint8 -> ``(N, C, S, S)`` float in [0, 1], kept channels-last in
    memory (no transposing copy; the CPU convolutions prefer that layout)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2).float().div_(255.0)


COARSEST_SCAN = 2.0  # resolution augmentation: as if scanned up to this much coarser (a 20x slide for a 40x model)


def augment(batch, generator):
    """Flips, 90° rotations, a stain-strength jitter (per channel, in optical density) and, for
    half the batches, a coarser scan: downsampled by up to :data:`COARSEST_SCAN` and resampled
    back, as a slide of lower resolution reaches the model at prediction."""
    import torch
    import torch.nn.functional as F

    if torch.rand(1, generator=generator).item() < 0.5:
        batch = batch.flip(-1)
    if torch.rand(1, generator=generator).item() < 0.5:
        batch = batch.flip(-2)
    batch = torch.rot90(batch, int(torch.randint(0, 4, (1,), generator=generator)), dims=(-2, -1))
    if torch.rand(1, generator=generator).item() < 0.5:
        size = batch.shape[-1]
        factor = 1 + (COARSEST_SCAN - 1) * torch.rand(1, generator=generator).item()
        small = F.interpolate(batch, size=max(8, round(size / factor)), mode="bilinear", antialias=True)
        batch = F.interpolate(small, size=size, mode="bilinear", align_corners=False)
    scale = 1 + 0.1 * (2 * torch.rand(batch.shape[0], batch.shape[1], 1, 1, generator=generator) - 1)
    density = -torch.log(batch.clamp_min(1 / 255))
    return torch.exp(-density * scale).clamp(0, 1)


def positive_weights(targets: np.ndarray) -> np.ndarray:
    """pos_weight per marker = negatives / positives among known labels (rare markers weigh more)."""
    known = targets >= 0
    positives = ((targets == 1) & known).sum(0)
    negatives = ((targets == 0) & known).sum(0)
    return negatives / np.maximum(positives, 1)


def masked_bce(logits, targets, pos_weight):
    """Weighted BCE over known labels only (targets -1 are unknown and ignored)."""
    import torch.nn.functional as F

    known = targets >= 0
    losses = F.binary_cross_entropy_with_logits(logits, targets.clamp_min(0), pos_weight=pos_weight, reduction="none")
    return (losses * known).sum() / known.sum().clamp_min(1)


def _loss_fn(config: ClassifierConfig, train_targets: np.ndarray):
    import torch
    import torch.nn.functional as F

    if config.task == "multiclass":
        # classes weighted by inverse frequency: rare cell types are not drowned by "other"
        known = train_targets[train_targets >= 0].astype(np.int64)
        counts = np.bincount(known, minlength=config.n_outputs).astype(np.float64)
        weight = torch.as_tensor(
            np.where(counts > 0, known.size / (config.n_outputs * np.maximum(counts, 1)), 0.0), dtype=torch.float32
        )
        return lambda logits, y: F.cross_entropy(logits, y.long(), weight=weight, ignore_index=-1)
    weight = torch.as_tensor(positive_weights(train_targets), dtype=torch.float32)
    return lambda logits, y: masked_bce(logits, y.float(), weight)


def train_classifier(
    patches, targets, config: ClassifierConfig, *, val_patches=None, val_targets=None, progress: Progress | None = None
):
    """Train from scratch, seeded; early stopping on the validation loss. Returns (model, history).

    ``targets``: class index per patch (``multiclass``, -1 = unknown) or ``(N, markers)``
    with 1 / 0 / -1 = unknown (``multitask``).
    """
    from napari_ifcell.core.steps import run_to_end

    return run_to_end(train_steps(patches, targets, config, val_patches=val_patches, val_targets=val_targets), progress)


def train_steps(
    patches: np.ndarray, targets: np.ndarray, config: ClassifierConfig, *, val_patches=None, val_targets=None
):
    """:func:`train_classifier` as a generator: yields ``("train", epoch, epochs)``, returns
    (model, history); the widget drives it in a worker."""
    import torch

    from napari_ifcell.core.device import resolve_device

    problems = config.problems()
    if problems:
        raise ValueError("invalid classifier config: " + "; ".join(problems))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = resolve_device(config.device)
    model = build_model(config).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = _loss_fn(config, targets)
    x_all, y_all = to_tensor(patches), torch.as_tensor(targets)
    history, best, best_state, waited = [], np.inf, None, 0
    steps_per_epoch = int(np.ceil(len(x_all) / config.batch_size))
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(x_all), generator=generator)
        total = 0.0
        optimiser.zero_grad()
        for step in range(steps_per_epoch):
            rows = order[step * config.batch_size : (step + 1) * config.batch_size]
            x = x_all[rows]
            if config.augment:
                x = augment(x, generator)
            loss = loss_fn(model(x.to(device)), y_all[rows].to(device)) / config.grad_accumulation
            loss.backward()
            if (step + 1) % config.grad_accumulation == 0 or step + 1 == steps_per_epoch:
                optimiser.step()
                optimiser.zero_grad()
            total += loss.item() * config.grad_accumulation * len(rows)
        record = {"epoch": epoch + 1, "train_loss": total / len(x_all)}
        recalibrate_batchnorm(model, x_all, generator, device)
        if val_patches is not None and len(val_patches):
            record["val_loss"] = evaluate_loss(model, val_patches, val_targets, loss_fn, device)
            if record["val_loss"] < best - 1e-4:
                best, best_state, waited = record["val_loss"], copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
        history.append(record)
        yield ("train", epoch + 1, config.epochs)
        if waited >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history


def recalibrate_batchnorm(model, x_all, generator, device, *, max_patches: int = 2048, batch: int = 256) -> None:
    """Set BatchNorm statistics to those of the current weights over (a sample of) the
    training patches: running averages taken while the weights moved misjudge them badly
    when a data set is small."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the passes below
    rows = torch.randperm(len(x_all), generator=generator)[:max_patches]
    model.train()
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            model(x_all[rows[start : start + batch]].to(device))
    model.eval()


def evaluate_loss(model, patches, targets, loss_fn, device, batch: int = 512) -> float:
    import torch

    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(patches), batch):
            x = to_tensor(patches[start : start + batch]).to(device)
            y = torch.as_tensor(targets[start : start + batch]).to(device)
            total += float(loss_fn(model(x), y)) * len(x)
    return total / max(len(patches), 1)


def predict_proba(model, patches: np.ndarray, config: ClassifierConfig, *, batch: int = 512) -> np.ndarray:
    """Class probabilities (softmax) or per-marker probabilities (sigmoid), ``(N, outputs)``."""
    import torch

    device = next(model.parameters()).device
    out = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(patches), batch):
            logits = model(to_tensor(patches[start : start + batch]).to(device))
            out.append((logits.softmax(1) if config.task == "multiclass" else logits.sigmoid()).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, config.n_outputs), np.float32)
