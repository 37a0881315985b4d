"""Synthetic images with masks, and the XAI-BENCH tabular benchmark."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfpath  # noqa: E402
from tfpath import datasets, metrics  # noqa: E402
from tfpath.datasets import tabular  # noqa: E402


def test_shapes_deterministic_balanced_and_in_range():
    a = datasets.make_shapes(60, size=20, seed=3)
    b = datasets.make_shapes(60, size=20, seed=3)
    c = datasets.make_shapes(60, size=20, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    assert a.images.dtype == np.float32 and a.images.shape == (60, 20, 20, 1)
    assert a.images.min() >= 0 and a.images.max() <= 1
    assert np.all(np.bincount(a.labels) == 20) and a.num_classes == 3
    assert a.dark.sum() == 30
    assert np.all(a.masks.reshape(60, -1).sum(axis=1) > 15)     # every object is visible
    split = datasets.load_shapes(30, 12, size=16, channels=3)
    assert split.x_train.shape == (30, 16, 16, 3) and split.masks_test.shape == (12, 16, 16)
    assert split.num_classes == 3 and split.dark_test.dtype == bool


def test_dark_objects_are_black_and_bright_ones_stand_out():
    d = datasets.make_shapes(40, size=24, seed=0)
    for i in range(40):
        inside = d.images[i, ..., 0][d.masks[i]]
        outside = d.images[i, ..., 0][~d.masks[i]]
        if d.dark[i]:
            assert inside.max() <= 0.06 and outside.min() >= 0.3
        else:
            assert inside.min() >= 0.8 and outside.max() <= 0.75


def _contrast(v):
    return tf.reduce_sum((v - 0.3) ** 2, axis=[1, 2, 3])


def test_black_baseline_cannot_see_dark_objects():
    """IG of a separable F from x' is f(x_i) − f(x'_i) per pixel: ≈ 0 on a near-black object
    when x' = 0, so its mask mass falls below chance on dark objects (but not on bright ones),
    while a blurred baseline sees them."""
    d = datasets.make_shapes(24, size=24, seed=1)
    mf = tfpath.ModelFunction(_contrast, target="score")
    ig = tfpath.IntegratedGradients()
    black = ig.GetMaskBatch(d.images, mf, x_steps=16)
    blurred = ig.GetMaskBatch(d.images, mf, x_steps=16,
                              baselines=tfpath.baselines.Blurred(6.0))
    mass_black = metrics.mask_mass(black, d.masks).per_image
    mass_blur = metrics.mask_mass(blurred, d.masks).per_image
    chance = d.masks.mean()
    assert mass_black[d.dark].mean() < chance < mass_black[~d.dark].mean()
    assert mass_blur[d.dark].mean() > 3 * mass_black[d.dark].mean()
    assert metrics.pointing_game(d.masks.astype(np.float32), d.masks).value == 1.0


def test_shapes_argument_errors():
    with pytest.raises(ValueError, match="channels"):
        datasets.make_shapes(4, channels=2)
    with pytest.raises(ValueError, match="texture"):
        datasets.make_shapes(4, texture="wood")
    with pytest.raises(ValueError, match="size"):
        datasets.make_shapes(4, size=4)


# ----------------------------------------------------------------------- tabular
def test_xai_bench_ground_truth_is_exact_shapley():
    train, test = datasets.load_xai_bench(2000, 100, seed=0)
    assert train.x.shape == (2000, 5) and test.x.shape == (100, 5)
    # efficiency: the Shapley values sum to the (centred) score; dummies get 0
    np.testing.assert_allclose(train.shapley.sum(axis=1), train.score, atol=1e-12)
    assert np.all(train.shapley[:, 3:] == 0)
    # ψ1, ψ2 are symmetric (mean 0); E[⌊2cos πX⌋] checked against a large Monte Carlo sample
    mc = tabular.contributions(np.random.default_rng(1).standard_normal((400_000, 5))).mean(0)
    np.testing.assert_allclose(train.expected, mc, atol=6e-3)
    assert train.expected[:2] == pytest.approx([0.0, 0.0], abs=1e-12)
    # labels follow the score (noise 0.01)
    agree = (train.y == (train.score > 0)).mean()
    assert agree > 0.99
    # the score has mean ~0 ("Norm[]")
    assert abs(train.score.mean()) < 0.1


def test_xai_bench_variant_reproduces_upstream_quirks():
    x = np.array([[0.3, -0.25, 0.5, 0.0, 0.0], [-1.0, -0.75, 0.0, 1.0, 1.0]])
    paper = tabular.contributions(x, "paper")
    upstream = tabular.contributions(x, "xai_bench")
    assert paper[0, 1] == -1 and upstream[0, 1] == 0        # never-true condition upstream
    assert paper[0, 2] == 0 and upstream[0, 2] == 1         # ⌊2cos(π/2)⌋ = 0 → 1 upstream
    assert paper[1, 2] == 2 and upstream[1, 2] == 2
    data = datasets.make_xai_bench(50, variant="xai_bench", seed=2)
    nonzero = data.score != 0                   # integer-valued, uncentred score; ≥ threshold
    np.testing.assert_array_equal(data.y[nonzero], data.score[nonzero] > 0)
    with pytest.raises(ValueError, match="variant"):
        datasets.make_xai_bench(5, variant="other")


def test_ground_truth_correlation_ranks_exact_over_noise():
    train, _ = datasets.load_xai_bench(200, 10)
    rng = np.random.default_rng(0)
    exact = metrics.ground_truth_correlation(train.shapley[:, :3] + 1e-9 * rng.normal(
        size=(200, 3)), train.shapley[:, :3])
    noisy = metrics.ground_truth_correlation(rng.normal(size=(200, 3)), train.shapley[:, :3])
    assert exact.value > 0.99 and abs(noisy.value) < 0.2
