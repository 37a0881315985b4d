"""Closed forms on analytic functions: f = 5x + y² + sin z, linear models, zero-gradient models."""
import numpy as np
import pytest
import tensorflow as tf

import tfpath

X = np.array([1.0, 2.0, 0.5], np.float32)
CLOSED_FORM = np.array([5.0, 4.0, np.sin(0.5)])      # IG from the zero baseline


def test_ig_gauss_legendre_equals_closed_form(analytic_mf):
    mask = tfpath.IntegratedGradients().GetMask(X, analytic_mf, x_steps=16,
                                                integrator="gauss_legendre")
    np.testing.assert_allclose(mask, CLOSED_FORM, rtol=1e-5)


@pytest.mark.parametrize("integrator", ["linspace_mean", "left", "right", "midpoint",
                                        "trapezoid", "gauss_legendre"])
def test_every_rule_converges_to_closed_form(analytic_mf, integrator):
    mask = tfpath.IntegratedGradients().GetMask(X, analytic_mf, x_steps=400,
                                                integrator=integrator)
    np.testing.assert_allclose(mask, CLOSED_FORM, rtol=2e-2, atol=1e-3)


def test_ig_with_baseline_closed_form(analytic_mf):
    base = np.array([-1.0, 1.0, 0.0], np.float32)
    mask = tfpath.IntegratedGradients().GetMask(X, analytic_mf, x_baseline=base, x_steps=8,
                                                integrator="gauss_legendre")
    np.testing.assert_allclose(mask, [10.0, 3.0, np.sin(0.5)], rtol=1e-5)


def test_gradient_saliency_closed_form(analytic_mf):
    g = tfpath.GradientSaliency().GetMask(X, analytic_mf)
    np.testing.assert_allclose(g, [5.0, 4.0, np.cos(0.5)], rtol=1e-6)


def test_idgi_linear_model_closed_form():
    w = np.array([0.5, -2.0, 1.5, 0.0], np.float32)
    mf = tfpath.ModelFunction(lambda x: tf.reduce_sum(x * w, axis=1), target="score")
    x = np.array([1.0, 0.5, -1.0, 3.0], np.float32)
    base = np.array([0.0, 1.0, 0.0, 1.0], np.float32)
    mask = tfpath.IntegratedGradients().GetMask(x, mf, x_baseline=base, x_steps=7,
                                                integrator="idgi")
    expected = w ** 2 * np.dot(w, x - base) / np.dot(w, w)      # the IDGI paper, linear case
    np.testing.assert_allclose(mask, expected, rtol=1e-5)
    assert mask[3] == 0.0                                       # Sensitivity(b)


def _linear_image_model(shape, seed=0):
    w = tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))
    return lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3]), w.numpy()


def test_blur_ig_linear_model_closed_form():
    from scipy import ndimage
    fn, w = _linear_image_model((9, 9, 2))
    mf = tfpath.ModelFunction(fn, target="score")
    x = np.random.default_rng(1).random((9, 9, 2)).astype(np.float32)
    mask = tfpath.BlurIG().GetMask(x, mf, max_sigma=5, steps=400, grad_step=1e-3)
    blurred = ndimage.gaussian_filter(x.astype(np.float64), [5, 5, 0], mode="constant")
    np.testing.assert_allclose(mask, w * (x - blurred), atol=2e-2 * np.abs(w * x).max())


@pytest.mark.parametrize("method,kwargs", [
    (tfpath.IntegratedGradients, dict(x_steps=20)),
    (tfpath.BlurIG, dict(steps=20, max_sigma=4)),
    (tfpath.GuidedIG, dict(x_steps=20)),
])
def test_idgi_completeness_on_every_path(cnn, images, method, kwargs):
    mf = tfpath.ModelFunction(cnn, target="probability")
    d = method().GetMaskBatchWithDetails(images[:2], mf, {"class_idx": [1, 3]},
                                         integrator="idgi", **kwargs)
    total = d.mask.reshape(2, -1).astype(np.float64).sum(1)
    # Σ mask + skipped = F(x) - F(x'), to float32 precision of the mask
    np.testing.assert_allclose(total + d.idgi_residual, d.end_value - d.start_value,
                               atol=1e-6)
    assert np.all(np.abs(d.convergence_delta + d.idgi_residual) < 1e-6)


@pytest.mark.parametrize("method,kwargs", [
    (tfpath.IntegratedGradients, dict(x_steps=10)),
    (tfpath.BlurIG, dict(steps=10, max_sigma=3)),
    (tfpath.GuidedIG, dict(x_steps=10)),
])
def test_zero_gradient_path_gives_no_nan(method, kwargs):
    # relu(x - 2) is flat (zero gradient) on the whole path from 0 to x ∈ [0, 1]
    mf = tfpath.ModelFunction(lambda x: tf.reduce_sum(tf.nn.relu(x - 2.0), axis=[1, 2, 3]),
                              target="score")
    x = np.random.default_rng(0).random((6, 6, 1)).astype(np.float32)
    d = method().GetMaskWithDetails(x, mf, integrator="idgi", **kwargs)
    assert np.all(np.isfinite(d.mask)) and np.all(d.mask == 0)
    assert d.idgi_residual == 0.0 and d.convergence_delta == 0.0


def test_zero_gradient_steps_are_reported_as_residual():
    # f = relu(sum(x) - 1): zero gradient while the path's sum is below 1, then linear
    mf = tfpath.ModelFunction(lambda x: tf.nn.relu(tf.reduce_sum(x, axis=1) - 1.0),
                              target="score")
    x = np.full(4, 1.0, np.float32)                  # sum 4: f(x) = 3, f(0) = 0
    d = tfpath.IntegratedGradients().GetMaskWithDetails(x, mf, x_steps=6, integrator="idgi")
    assert np.all(np.isfinite(d.mask))
    # the segment from α=0.2 (sum 0.8, zero gradient) to α=0.4 (sum 1.6) is skipped
    assert np.isclose(d.idgi_residual, 0.6, atol=1e-6)
    assert np.isclose(d.mask.sum() + d.idgi_residual, 3.0, atol=1e-5)


def test_guided_ig_with_max_dist_zero_is_left_riemann_ig(smooth_cnn):
    # max_dist = 0 pins every feature to the straight line's α = (j+1)/steps: the path is IG's,
    # visited at α_j = j/steps with the gradient at each segment's start (left rule)
    mf = tfpath.ModelFunction(smooth_cnn, target="logit")
    x = np.random.default_rng(2).random((10, 10, 1)).astype(np.float32)
    guided = tfpath.GuidedIG().GetMask(x, mf, {"class_idx": 1}, x_steps=12, max_dist=0.0)
    ig = tfpath.IntegratedGradients().GetMask(x, mf, {"class_idx": 1}, x_steps=12,
                                              integrator="left")
    np.testing.assert_allclose(guided, ig, rtol=1e-4, atol=1e-6 * np.abs(ig).max())
    # while the unconstrained guided path differs from the straight line
    free = tfpath.GuidedIG().GetMask(x, mf, {"class_idx": 1}, x_steps=12, max_dist=1.0)
    assert np.abs(free - ig).max() > 1e-2 * np.abs(ig).max()
