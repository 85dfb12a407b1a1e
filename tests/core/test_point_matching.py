import numpy as np
import pytest

from napari_ifcell.core.compare.matching import match_points


def test_radius_is_in_micrometres():
    truth = np.array([[0.0, 0.0], [100.0, 100.0]])
    predicted = np.array([[0.0, 2.9], [100.0, 103.1]])
    pairs = match_points(truth, predicted, radius_um=3.0)
    assert pairs.tolist() == [[0, 0]]  # 2.9 µm matches, 3.1 µm does not


def test_pixels_must_be_converted_first():
    # 9 px apart at 0.325 µm/px is 2.925 µm: a match in µm, which a 3-"pixel" radius would miss
    px = 0.325
    truth, predicted = np.array([[10.0, 10.0]]) * px, np.array([[10.0, 19.0]]) * px
    assert len(match_points(truth, predicted, radius_um=3.0)) == 1


def test_one_to_one_assignment_maximises_matches():
    # greedy nearest-first would pair t0-p1 (distance 0.5) and leave t1 and p0 unmatched
    truth = np.array([[0.0, 0.0], [0.0, 2.9]])
    predicted = np.array([[0.0, -2.0], [0.0, 0.5]])
    pairs = match_points(truth, predicted, radius_um=3.0)
    assert pairs.tolist() == [[0, 0], [1, 1]]


def test_two_predictions_on_one_cell_give_one_match():
    truth = np.array([[0.0, 0.0]])
    predicted = np.array([[0.0, 1.0], [0.0, -0.5]])
    assert match_points(truth, predicted).tolist() == [[0, 1]]  # the closer one


def test_coincident_points_and_empty_inputs():
    assert match_points(np.array([[5.0, 5.0]]), np.array([[5.0, 5.0]])).tolist() == [[0, 0]]
    assert match_points(np.zeros((0, 2)), np.array([[5.0, 5.0]])).shape == (0, 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_optimum_on_random_clusters(seed):
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 20, (30, 2))
    predicted = rng.uniform(0, 20, (25, 2))
    pairs = match_points(truth, predicted, radius_um=3.0)
    d = np.linalg.norm(truth[:, None] - predicted[None], axis=2)
    cost = np.where(d <= 3.0, d, 1e6)
    r, c = linear_sum_assignment(cost)
    best = (cost[r, c] < 1e6).sum()
    assert len(pairs) == best
    assert len(set(pairs[:, 0])) == len(pairs) == len(set(pairs[:, 1]))
    assert (d[pairs[:, 0], pairs[:, 1]] <= 3.0).all()
