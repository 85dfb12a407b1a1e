"""Classifier speed on the CPU: inference cells per second for the default small CNN at
64 x 64 (goal >= 2,000 on 2 cores), against a ResNet-18 backbone (baseline), and training
time per 10,000 patches.

Usage: python benchmarks/bench_classifier.py [--cells 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20000)
    args = parser.parse_args()

    import torch

    from napari_ifcell.core.classify.model import ClassifierConfig, build_model
    from napari_ifcell.core.classify.training import predict_proba, train_classifier

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 255, (args.cells, 64, 64, 3), dtype=np.uint8)
    rates = {}
    for backbone in ("small_cnn", "resnet18"):
        config = ClassifierConfig(backbone=backbone)
        model = build_model(config).eval()
        n = args.cells if backbone == "small_cnn" else args.cells // 10
        predict_proba(model, patches[:512], config)  # warm up
        t = time.perf_counter()
        predict_proba(model, patches[:n], config)
        rates[backbone] = n / (time.perf_counter() - t)
    print(
        f"inference at 64 x 64 on 2 CPU threads: small CNN {rates['small_cnn']:.0f} cells/s (goal >= 2000); "
        f"ResNet-18 (baseline) {rates['resnet18']:.0f} cells/s -> {rates['small_cnn'] / rates['resnet18']:.1f}x"
    )

    targets = rng.integers(0, 5, 10000)
    config = ClassifierConfig(epochs=1)
    t = time.perf_counter()
    train_classifier(patches[:10000], targets, config)
    print(
        f"training, small CNN, batch 32, augmentation on: {time.perf_counter() - t:.1f} s per epoch of 10,000 patches"
    )


if __name__ == "__main__":
    main()
