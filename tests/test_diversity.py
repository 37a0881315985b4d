"""Diversity metrics of counterfactual sets (Ley, Bhatt and Weller, AAAI 2022, Table 1 and
Appendix C) against closed forms, hand-computed examples, properties a wrong implementation
breaks, and argument errors."""
import itertools
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tfpath.metrics import diversity as dv  # noqa: E402


def rng(seed=0):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- dpp
@pytest.mark.parametrize("t", [0.0, 0.3, 1.0, 7.5])
def test_dpp_two_points_closed_form(t):
    """det [[1, a], [a, 1]] = 1 − a², a = 1 / (1 + t)."""
    direction = np.array([3.0, -4.0, 12.0]) / 13.0               # unit ℓ2 vector
    points = np.stack([np.zeros(3), t * direction])[None]
    np.testing.assert_allclose(dv.dpp(points), [1 - 1 / (1 + t) ** 2], rtol=1e-12, atol=1e-15)
    l1 = t * np.abs(direction).sum()
    np.testing.assert_allclose(dv.dpp(points, "l1"), [1 - 1 / (1 + l1) ** 2], rtol=1e-12,
                               atol=1e-15)


def test_dpp_three_points_on_a_line_closed_form():
    """Points 0, 1, 3: a = K_01 = 1/2, b = K_12 = 1/3, c = K_02 = 1/4 and
    det = 1 + 2abc − a² − b² − c²; feature shape [1, 1] (flattened)."""
    points = np.array([0.0, 1.0, 3.0]).reshape(1, 3, 1, 1)
    a, b, c = 1 / 2, 1 / 3, 1 / 4
    np.testing.assert_allclose(dv.dpp(points), [1 + 2 * a * b * c - a * a - b * b - c * c],
                               rtol=1e-12)


def test_dpp_bounds_duplicates_far_points_and_single():
    x = rng(1).standard_normal((20, 5, 4))
    d = dv.dpp(x)
    assert d.shape == (20,) and d.dtype == np.float64
    assert np.all((d >= 0) & (d <= 1))                           # PSD, Hadamard
    assert np.all(d < 1)                                         # finite distances
    dup = x.copy()
    dup[:, 3] = dup[:, 1]
    np.testing.assert_allclose(dv.dpp(dup), 0.0, atol=1e-12)
    np.testing.assert_allclose(dv.dpp(1e7 * x), 1.0, atol=1e-6)
    np.testing.assert_array_equal(dv.dpp(x[:, :1]), np.zeros(20))


def test_dpp_batch_equals_each_set():
    x = rng(2).random((4, 3, 2, 2))
    one = [dv.dpp(x[b][None])[0] for b in range(4)]
    np.testing.assert_allclose(dv.dpp(x), one, rtol=1e-12)


# --------------------------------------------------------------------------- apd
def test_apd_hand_examples():
    line = np.array([0.0, 1.0, 3.0]).reshape(1, 3, 1)
    np.testing.assert_allclose(dv.apd(line), [(1 + 3 + 2) / 3])
    pair = np.array([[0.0, 0.0], [3.0, 4.0]])[None]
    np.testing.assert_allclose(dv.apd(pair), [5.0])
    np.testing.assert_allclose(dv.apd(pair, distance="l1"), [7.0])
    np.testing.assert_array_equal(dv.apd(pair[:, :1]), [0.0])


def test_apd_matches_loop_and_is_permutation_invariant():
    x = rng(3).standard_normal((3, 6, 2, 3))
    expected = [np.mean([np.linalg.norm(x[b, i] - x[b, j])
                         for i, j in itertools.combinations(range(6), 2)]) for b in range(3)]
    np.testing.assert_allclose(dv.apd(x), expected, rtol=1e-12)
    perm = rng(4).permutation(6)
    np.testing.assert_allclose(dv.apd(x[:, perm]), dv.apd(x), rtol=1e-12)
    np.testing.assert_allclose(dv.dpp(x[:, perm]), dv.dpp(x), rtol=1e-9, atol=1e-15)


# --------------------------------------------------------------------------- coverage
def mean_range(points):
    """Mean per-feature max − min of each set, by Python loops."""
    b, k = points.shape[:2]
    flat = points.reshape(b, k, -1)
    return [np.mean([max(flat[i, :, f]) - min(flat[i, :, f]) for f in range(flat.shape[2])])
            for i in range(b)]


def test_coverage_unclipped_is_mean_range_and_ignores_original():
    x = rng(5).random((4, 5, 3, 2))
    x0 = rng(6).random((4, 3, 2))
    cov = dv.coverage(x, x0)
    assert cov.shape == (4,) and cov.dtype == np.float64
    np.testing.assert_allclose(cov, mean_range(x), rtol=1e-12)
    np.testing.assert_allclose(dv.coverage(x, x0 + 10.0), cov, rtol=1e-12)
    np.testing.assert_array_equal(dv.coverage(x[:, :1], x0), np.zeros(4))


def test_coverage_clipped_hand_example():
    """x0 = 0.5, set {0.7, 0.9}: unclipped 0.4 − 0.2 = 0.2; clipped 0.4 + 0 = 0.4."""
    x = np.array([0.7, 0.9]).reshape(1, 2, 1)
    x0 = np.array([[0.5]])
    np.testing.assert_allclose(dv.coverage(x, x0), [0.2])
    np.testing.assert_allclose(dv.coverage(x, x0, clip=True), [0.4])


def test_coverage_clipped_is_range_with_original():
    x = rng(7).random((5, 4, 6))
    x0 = rng(8).random((5, 6))
    clipped = dv.coverage(x, x0, clip=True)
    np.testing.assert_allclose(clipped, mean_range(np.concatenate([x, x0[:, None]], axis=1)),
                               rtol=1e-12)
    assert np.all(clipped >= dv.coverage(x, x0) - 1e-15)
    same = np.repeat(x0[:, None], 3, axis=1)
    np.testing.assert_array_equal(dv.coverage(same, x0, clip=True), np.zeros(5))


def test_coverage_extremes_reach_max():
    low, high = np.array([0.0, -1.0, 2.0]), np.array([1.0, 1.0, 5.0])
    assert dv.coverage_max((low, high), 3) == pytest.approx(2.0)       # mean(1, 2, 3)
    x = np.stack([high, low])[None]
    x0 = np.array([[0.5, 0.0, 3.0]])
    for clip in (False, True):
        assert dv.coverage(x, x0, clip=clip)[0] == pytest.approx(2.0)
        assert dv.coverage(x, x0, clip=clip, bounds=(low, high))[0] == pytest.approx(1.0)
    unit = np.stack([np.ones((2, 2)), np.zeros((2, 2))])[None]
    assert dv.coverage_max((0, 1), (2, 2)) == 1.0
    assert dv.coverage(unit, np.full((1, 2, 2), 0.3), bounds=(0, 1))[0] == 1.0
    assert dv.coverage(unit, np.full((1, 2, 2), 0.3), clip=True, bounds=(0.0, 1.0))[0] == 1.0


def test_coverage_at_most_max_and_monotone_in_k():
    low, high = -2.0, np.array([1.0, 3.0, 0.5, 2.0])
    u = rng(9).random((30, 8, 4))
    x = low + u * (high - low)
    x0 = low + rng(10).random((30, 4)) * (high - low)
    d_max = dv.coverage_max((low, high), (4,))
    np.testing.assert_allclose(d_max, np.mean(high - low))
    for clip in (False, True):
        values = np.stack([dv.coverage(x[:, :j], x0, clip=clip) for j in range(1, 9)])
        assert np.all(values <= d_max + 1e-12)
        assert np.all(np.diff(values, axis=0) >= 0)                    # never decreases
        np.testing.assert_allclose(dv.coverage(x, x0, clip=clip, bounds=(low, high)),
                                   values[-1] / d_max, rtol=1e-12)


# --------------------------------------------------------------------------- predictions
def test_prediction_coverage_range_and_extremes():
    c = 4
    p = rng(11).dirichlet(np.ones(c), size=(10, 3))
    d = dv.prediction_coverage(p)
    assert d.shape == (10,) and np.all((d >= 1 / c - 1e-12) & (d <= 1 + 1e-12))
    np.testing.assert_allclose(dv.prediction_coverage(p[:, :1]), 1 / c, rtol=1e-12)
    np.testing.assert_allclose(dv.prediction_coverage(np.eye(c)[None]), [1.0])
    hand = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])[None]
    np.testing.assert_allclose(dv.prediction_coverage(hand), [(0.7 + 0.6 + 0.3) / 3])


def test_distinct_labels_and_label_entropy():
    c = 4
    labels = np.array([[0, 0, 1, 2], [3, 3, 3, 3], [0, 1, 2, 3]])
    np.testing.assert_allclose(dv.distinct_labels(labels, c), [3 / 4, 1 / 4, 1.0])
    # p = (1/2, 1/4, 1/4, 0): H = ½ log 2 + ½ log 4 = 1.5 log 2 = 0.75 log 4
    np.testing.assert_allclose(dv.label_entropy(labels, c), [0.75, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(dv.distinct_labels(labels[:, :1], c), [1 / c] * 3)
    np.testing.assert_array_equal(dv.label_entropy(labels[:, :1], c), [0.0] * 3)
    uniform = np.tile(np.arange(5), 2)[None]                           # k = 10, C = 5
    np.testing.assert_allclose(dv.label_entropy(uniform, 5), [1.0], rtol=1e-12)
    np.testing.assert_allclose(dv.label_entropy(np.array([[1, 0]]), 10),
                               [math.log(2) / math.log(10)], rtol=1e-12)


def test_label_distribution_hand_example():
    """Class 2 reached at costs 0.5, 0.9; class 7 at 1.0, 3.0: weights 1/0.25 = 4 and 1/1 = 1,
    so p2 = 0.8, p7 = 0.2 and the other classes 0."""
    labels = np.array([[2, 7, 2, 7], [1, 1, 1, 1]])
    costs = np.array([[0.5, 1.0, 0.9, 3.0], [2.0, 0.1, 5.0, 1.0]])
    p = dv.label_distribution(labels, costs, 10)
    expected = np.zeros((2, 10))
    expected[0, 2], expected[0, 7], expected[1, 1] = 0.8, 0.2, 1.0
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    # scaling every cost leaves the distribution unchanged
    np.testing.assert_allclose(dv.label_distribution(labels, 3 * costs, 10), p, rtol=1e-12)


# --------------------------------------------------------------------------- report
def test_diversity_report_matches_metrics():
    r = rng(12)
    z, x = r.standard_normal((3, 4, 5)), r.random((3, 4, 2, 2))
    x0, p = r.random((3, 2, 2)), r.dirichlet(np.ones(6), size=(3, 4))
    rep = dv.diversity(z=z, x=x, original=x0, probabilities=p, bounds=(0, 1))
    labels = p.argmax(-1)
    expected = {"dpp_z": dv.dpp(z, "l2"), "apd_z": dv.apd(z, "l2"),
                "dpp_x": dv.dpp(x, "l1"), "apd_x": dv.apd(x, "l1"),
                "coverage": dv.coverage(x, x0, bounds=(0, 1)),
                "coverage_clipped": dv.coverage(x, x0, clip=True, bounds=(0, 1)),
                "prediction_coverage": dv.prediction_coverage(p),
                "distinct_labels": dv.distinct_labels(labels, 6),
                "label_entropy": dv.label_entropy(labels, 6)}
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(rep, name), value, rtol=1e-12, err_msg=name)
    means = rep.mean()
    assert list(means) == list(expected)
    for name, value in expected.items():
        assert means[name] == pytest.approx(float(np.mean(value)))


def test_diversity_report_partial():
    rep = dv.diversity(x=rng(13).random((2, 3, 4)))
    assert rep.dpp_z is None and rep.coverage is None and rep.label_entropy is None
    assert rep.dpp_x.shape == (2,)
    assert set(rep.mean()) == {"dpp_x", "apd_x"}


# --------------------------------------------------------------------------- errors
def test_point_errors():
    x = rng(14).random((2, 3, 4))
    nan = x.copy()
    nan[0, 1, 2] = np.nan
    for fn in (dv.dpp, dv.apd):
        with pytest.raises(ValueError, match="^points: contains NaN"):
            fn(nan)
        with pytest.raises(ValueError, match=r"^points: expected sets .*\(3, 4\)"):
            fn(x[0])
        with pytest.raises(ValueError, match="^points: is empty"):
            fn(x[:, :0])
        with pytest.raises(ValueError, match="^points: expected a real numeric"):
            fn(np.array([[["a"]]]))
        with pytest.raises(ValueError, match="^distance: .*'cosine'"):
            fn(x, distance="cosine")
    with pytest.raises(ValueError, match="^points: contains NaN"):
        dv.coverage(nan, x[:, 0])


def test_coverage_errors():
    x = rng(15).random((2, 3, 4))
    with pytest.raises(ValueError, match=r"^original: expected shape \(2, 4\).*\(3, 4\)"):
        dv.coverage(x, x[0])
    with pytest.raises(ValueError, match=r"^original: expected shape"):
        dv.coverage(x, x[:, :, 0])
    with pytest.raises(ValueError, match="^original: contains NaN"):
        dv.coverage(x, np.full((2, 4), np.nan))
    with pytest.raises(TypeError, match="^clip"):
        dv.coverage(x, x[:, 0], clip="yes")
    with pytest.raises(ValueError, match="^bounds: expected \\(low, high\\)"):
        dv.coverage(x, x[:, 0], bounds=1.0)
    with pytest.raises(ValueError, match="^bounds: expected low and high broadcastable"):
        dv.coverage(x, x[:, 0], bounds=(np.zeros(3), 1.0))
    with pytest.raises(ValueError, match="^bounds: expected low < high"):
        dv.coverage(x, x[:, 0], bounds=(1.0, 0.0))
    with pytest.raises(ValueError, match="^points: expected values inside bounds"):
        dv.coverage(x + 2.0, x[:, 0], bounds=(0, 1))
    with pytest.raises(ValueError, match="^original: expected values inside bounds"):
        dv.coverage(x, x[:, 0] - 2.0, bounds=(0, 1))
    with pytest.raises(ValueError, match="^shape"):
        dv.coverage_max((0, 1), (2, 0))
    with pytest.raises(ValueError, match="^bounds"):
        dv.coverage_max((0, np.nan), (2,))


def test_prediction_and_label_errors():
    p = rng(16).dirichlet(np.ones(3), size=(2, 4))
    with pytest.raises(ValueError, match="^probabilities: expected probability vectors \\[B"):
        dv.prediction_coverage(p[0])
    with pytest.raises(ValueError, match="^probabilities: expected probability vectors \\(en"):
        dv.prediction_coverage(2 * p)
    with pytest.raises(ValueError, match="^probabilities: contains NaN"):
        dv.prediction_coverage(np.where(p > 0.5, np.nan, p))
    labels = np.array([[0, 1, 2]])
    for fn in (dv.distinct_labels, dv.label_entropy):
        with pytest.raises(TypeError, match="^labels: expected integer"):
            fn(labels.astype(float), 3)
        with pytest.raises(TypeError, match="^labels: expected integer"):
            fn(labels > 0, 3)
        with pytest.raises(ValueError, match="^labels: class index 3 is out of range"):
            fn(labels + 1, 3)
        with pytest.raises(ValueError, match="^labels: class index -1"):
            fn(labels - 1, 3)
        with pytest.raises(ValueError, match=r"^labels: expected non-empty .*\(3,\)"):
            fn(labels[0], 3)
        with pytest.raises(ValueError, match="^num_classes"):
            fn(labels, 1)
        with pytest.raises(TypeError, match="^num_classes"):
            fn(labels, 3.0)


def test_label_distribution_errors():
    labels = np.array([[0, 1, 1]])
    with pytest.raises(ValueError, match="^costs: .*divide by zero"):
        dv.label_distribution(labels, np.array([[1.0, 0.0, 2.0]]), 2)
    with pytest.raises(ValueError, match="^costs: expected costs > 0, received -1"):
        dv.label_distribution(labels, np.array([[1.0, -1.0, 2.0]]), 2)
    with pytest.raises(ValueError, match="^costs: contains NaN"):
        dv.label_distribution(labels, np.array([[1.0, np.nan, 2.0]]), 2)
    with pytest.raises(ValueError, match=r"^costs: expected shape \(1, 3\)"):
        dv.label_distribution(labels, np.ones((1, 2)), 2)
    with pytest.raises(ValueError, match="^labels: class index 2"):
        dv.label_distribution(labels + 1, np.ones((1, 3)), 2)


def test_diversity_errors():
    r = rng(17)
    z, x, p = r.random((2, 3, 4)), r.random((2, 3, 5)), r.dirichlet(np.ones(3), size=(2, 3))
    with pytest.raises(ValueError, match="^z, x, probabilities"):
        dv.diversity()
    with pytest.raises(ValueError, match="^original"):
        dv.diversity(z=z, original=x[:, 0])
    with pytest.raises(ValueError, match="^bounds"):
        dv.diversity(x=x, bounds=(0, 1))
    with pytest.raises(ValueError, match=r"^x: expected 2 sets of 3 .*\[B, k\] of z"):
        dv.diversity(z=z, x=x[:, :2])
    with pytest.raises(ValueError, match=r"^probabilities: expected 2 sets .*\[B, k\] of x"):
        dv.diversity(x=x, probabilities=p[:1])
    with pytest.raises(ValueError, match="^probabilities: expected C >= 2"):
        dv.diversity(probabilities=np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match="^original: expected shape"):
        dv.diversity(x=x, original=x[:, 0, :4])
