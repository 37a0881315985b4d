"""IDGI on each path equals the authors' IDGI() applied to the recorded path (Yang, Wang and Bilgic, CVPR 2023)."""
import numpy as np
import pytest
from scipy import ndimage

import tfpath
from test_integrate import official_idgi


@pytest.fixture(scope="module")
def mf(cnn):
    return tfpath.ModelFunction(cnn, target="probability")


def grads_and_values(mf, points, c):
    out = mf(np.asarray(points, np.float32), {"class_idx": c},
             [tfpath.INPUT_OUTPUT_GRADIENTS, tfpath.OUTPUT_LAYER_VALUES])
    return (out[tfpath.INPUT_OUTPUT_GRADIENTS].astype(np.float64),
            out[tfpath.OUTPUT_LAYER_VALUES].astype(np.float64))


def test_ig_idgi_is_official_idgi_on_linspace_points(mf, images):
    x, base, k = images[0], np.full_like(images[0], 0.1), 11
    points = [base + a * (x - base) for a in np.linspace(0, 1, k)]
    g, f = grads_and_values(mf, points, 2)
    ours = tfpath.IntegratedGradients().GetMask(x, mf, {"class_idx": 2}, x_baseline=base,
                                                x_steps=k, integrator="idgi")
    np.testing.assert_allclose(ours, official_idgi(g, f), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("convention", ["pair", "canonical"])
def test_blur_ig_idgi_conventions(mf, images, convention):
    x, steps, max_sigma = images[1].astype(np.float64), 12, 6.0
    sigmas = [i * max_sigma / steps for i in range(steps + 1)]        # PAIR order: x first
    points = [ndimage.gaussian_filter(x, [s, s, 0], mode="constant") if s else x for s in sigmas]
    g, f = grads_and_values(mf, points, 3)
    if convention == "pair":      # c1: official IDGI on PAIR-ordered lists, negated
        expected = -official_idgi(g, f)
    else:                         # c2: official IDGI from the blurred image to x
        expected = official_idgi(g[::-1], f[::-1])
    ours = tfpath.BlurIG().GetMask(images[1], mf, {"class_idx": 3}, steps=steps,
                                   max_sigma=max_sigma, integrator="idgi",
                                   blur_convention=convention)
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-6 * np.abs(expected).max())
    assert np.isclose(ours.sum(), f[0] - f[-1], atol=1e-6)


def test_guided_ig_idgi_is_official_idgi_on_the_recorded_path(mf, images):
    recorded = []

    def recording(x_batch, call_model_args=None, expected_keys=None):
        out = mf(x_batch, call_model_args, [tfpath.INPUT_OUTPUT_GRADIENTS,
                                            tfpath.OUTPUT_LAYER_VALUES])
        recorded.append((np.array(x_batch), out[tfpath.INPUT_OUTPUT_GRADIENTS],
                         out[tfpath.OUTPUT_LAYER_VALUES]))
        return out

    # a grey baseline: at black, this ReLU CNN's gradient is exactly 0 and IDGI() gives NaN
    x, base, steps = images[2], np.full_like(images[2], 0.1), 15
    ours = tfpath.GuidedIG().GetMask(x, recording, {"class_idx": 0}, x_baseline=base,
                                     x_steps=steps, integrator="idgi")
    path = recorded                              # no call beyond the path (PAIR's calls)
    assert len(path) == steps + 1                # x_0 = baseline ... x_steps = end point
    np.testing.assert_array_equal(path[0][0][0], base)
    np.testing.assert_allclose(path[-1][0][0], x, atol=1e-6)
    g = np.stack([p[1][0] for p in path]).astype(np.float64)
    f = np.array([p[2][0] for p in path], np.float64)
    np.testing.assert_allclose(ours, official_idgi(g, f), rtol=1e-4, atol=1e-9)
    # the Guided IG (left rule) mask of the same path uses the first `steps` gradients
    plain = tfpath.GuidedIG().GetMask(x, mf, {"class_idx": 0}, x_baseline=base, x_steps=steps)
    moves = np.diff(np.stack([p[0][0] for p in path]).astype(np.float64), axis=0)
    np.testing.assert_allclose(plain, (g[:-1] * moves).sum(0), rtol=1e-4, atol=1e-8)
