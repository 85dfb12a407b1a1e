"""TP / FP / FN / TN per cell and the scores the Classifier widget shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score

from napari_ifcell.core.classify.model import ClassifierConfig
from napari_ifcell.core.classify.outcomes import (
    OUTCOMES,
    outcome_counts,
    outcome_scores,
    outcome_targets,
    outcomes,
    truth_and_probability,
)


def test_scores_equal_scikit_learn_on_the_cells_with_truth():
    rng = np.random.default_rng(3)
    truth = rng.integers(-1, 2, 500)  # -1: no truth
    prob = rng.random(500)
    counts = outcome_counts(outcomes(truth, prob, threshold=0.4))
    known = truth >= 0
    y, p = truth[known], prob[known] >= 0.4
    scores = outcome_scores(counts)
    assert counts["no truth"] == int((~known).sum())
    assert scores["precision"] == precision_score(y, p)
    assert scores["recall"] == recall_score(y, p)
    assert np.isclose(scores["f1"], f1_score(y, p))


def test_scores_are_zero_not_nan_without_positives():
    assert outcome_scores(dict.fromkeys(OUTCOMES, 0)) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_a_group_sums_its_classes_and_unpredicted_cells_have_no_truth():
    config = ClassifierConfig(task="multiclass")
    table = pd.DataFrame(
        {
            "phenotype": ["CD8 T", "B cell", "other", "CD8 T"],
            **{f"prob_{c}": [0.1, 0.2, 0.3, np.nan] for c in config.classes},
        }
    )
    assert "lymphocytes" in outcome_targets(config)
    truth, prob = truth_and_probability(table, config, "lymphocytes")
    assert truth.tolist() == [1, 1, 0, -1]
    assert np.isclose(prob[0], 0.1 * 3)  # CD4 T + CD8 T + B cell
