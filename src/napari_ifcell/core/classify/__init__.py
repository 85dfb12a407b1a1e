"""H&E-only cell classifiers: the model and its config, training, patches and sampling,
the papers' metrics and the TP / FP / FN / TN outcomes.

This package's names are the scripting API."""

from napari_ifcell.core.classify.metrics import class_report, marker_report
from napari_ifcell.core.classify.model import (
    ClassifierConfig,
    build_model,
    load_classifier,
    read_config,
    save_classifier,
)
from napari_ifcell.core.classify.outcomes import (
    OUTCOMES,
    outcome_counts,
    outcome_scores,
    outcome_targets,
    outcomes,
    truth_and_probability,
)
from napari_ifcell.core.classify.patches import extract_patches, mask_patches
from napari_ifcell.core.classify.sampling import sample_marker_balanced, sample_per_class, spatial_split
from napari_ifcell.core.classify.training import predict_proba, train_classifier, train_steps

__all__ = [
    "OUTCOMES",
    "ClassifierConfig",
    "build_model",
    "class_report",
    "extract_patches",
    "load_classifier",
    "marker_report",
    "mask_patches",
    "outcome_counts",
    "outcome_scores",
    "outcome_targets",
    "outcomes",
    "predict_proba",
    "read_config",
    "sample_marker_balanced",
    "sample_per_class",
    "save_classifier",
    "spatial_split",
    "train_classifier",
    "train_steps",
    "truth_and_probability",
]
