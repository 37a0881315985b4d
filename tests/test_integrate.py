"""Integration rules as data, and the streaming IDGI accumulator against the reference form."""
import numpy as np
import pytest
import tensorflow as tf

from tfpath import integrate


def official_idgi(gradients, predictions):
    """The authors' IDGI (Yang, Wang and Bilgic, CVPR 2023, Algorithm 1), retyped as a reference (NaN on zero gradients)."""
    result = np.zeros_like(gradients[0])
    for i in range(len(gradients) - 1):
        d = predictions[i + 1] - predictions[i]
        element_product = gradients[i] ** 2
        result += element_product * d / np.sum(element_product)
    return result


# ∫_0^1 t² dt = 1/3 by each rule with 16 evaluations, in closed form
RULE_SUMS_OF_T_SQUARED = {
    "left": sum((k / 16) ** 2 for k in range(16)) / 16,              # 1240 / 4096
    "right": sum((k / 16) ** 2 for k in range(1, 17)) / 16,          # 1496 / 4096
    "midpoint": sum(((k + 0.5) / 16) ** 2 for k in range(16)) / 16,
    "linspace_mean": sum((k / 15) ** 2 for k in range(16)) / 16,     # PAIR IG's mean
    "trapezoid": (sum((k / 15) ** 2 for k in range(16)) - 0.5) / 15,
    "gauss_legendre": 1.0 / 3.0,
}


@pytest.mark.parametrize("rule", integrate.RULES)
def test_rules_integrate_polynomials(rule):
    steps = 16
    t, w = integrate.rule_points(rule, lambda n: np.linspace(0.0, 1.0, n), steps)
    assert t.shape == w.shape == (steps,)
    assert np.isclose(w.sum(), 1.0)                 # ∫ 1 = 1 for every rule
    assert np.isclose(np.dot(w, t ** 2), RULE_SUMS_OF_T_SQUARED[rule], rtol=1e-12, atol=0)


def test_gauss_legendre_exact_to_degree_2k_minus_1():
    t, w = integrate.rule_points("gauss_legendre", lambda n: np.linspace(0.0, 1.0, n), 4)
    assert np.isclose(np.dot(w, t ** 7), 1.0 / 8.0, rtol=1e-12)


def test_rules_on_a_decreasing_grid_carry_the_sign():
    grid = lambda n: np.linspace(3.0, 0.0, n)          # e.g. σ from 3 down to 0
    _, w = integrate.rule_points("right", grid, 3)
    assert np.allclose(w, -1.0)
    _, w = integrate.rule_points("linspace_mean", grid, 1)
    assert np.allclose(w, -3.0)


def test_unknown_rule_and_short_trapezoid_raise():
    with pytest.raises(ValueError, match="integrator"):
        integrate.rule_points("simpson", lambda n: np.linspace(0, 1, n), 3)
    with pytest.raises(ValueError, match="steps"):
        integrate.rule_points("trapezoid", lambda n: np.linspace(0, 1, n), 1)


def test_idgi_from_path_equals_official_code():
    rng = np.random.default_rng(1)
    g = rng.normal(size=(9, 4, 3))
    f = rng.normal(size=9)
    attr, residual = integrate.idgi_from_path(g, f)
    np.testing.assert_allclose(attr, official_idgi(g, f), rtol=1e-12)
    assert residual == 0.0
    assert np.isclose(attr.sum(), f[-1] - f[0])


def test_idgi_zero_gradient_is_skipped_and_reported_not_nan():
    g = np.ones((5, 3))
    g[1] = 0.0
    f = np.array([0.0, 1.0, 3.0, 4.0, 4.5])
    attr, residual = integrate.idgi_from_path(g, f)
    assert np.all(np.isfinite(attr))
    assert residual == 2.0                           # d_1 = f_2 - f_1 was skipped
    assert np.isclose(attr.sum() + residual, 4.5)
    assert np.all(np.isnan(official_idgi(g, f)))     # what the authors' code returns


def test_idgi_float32_underflow_is_handled_in_float64():
    g = np.full((3, 4), 1e-24, np.float32)           # g² underflows to 0 in float32
    f = np.array([0.0, 0.5, 1.0])
    attr, residual = integrate.idgi_from_path(g, f)
    assert residual == 0.0 and np.allclose(attr, 0.25)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_streaming_accumulator_matches_reference(side, chunk):
    rng = np.random.default_rng(2)
    n, b = 7, 3
    g = rng.normal(size=(n, b, 5)).astype(np.float32)
    g[2, 1] = 0.0                                      # one zero-norm node
    f = rng.normal(size=(n, b)).astype(np.float32)
    acc = integrate.IDGI(side)
    state = acc.init(tf.zeros((b, 5)))
    for s in range(0, n, chunk):
        state = acc.update(state, tf.constant(g[s:s + chunk]), tf.constant(f[s:s + chunk]),
                           None, tf.ones([len(g[s:s + chunk]), b], tf.float64))
    attr, residual = (t.numpy() for t in acc.result(state, None, None))
    for i in range(b):
        ref, ref_res = integrate.idgi_from_path(g[:, i], f[:, i], side=side)
        np.testing.assert_allclose(attr[i], ref, rtol=1e-6, atol=1e-9)
        assert np.isclose(residual[i], ref_res)
        assert np.isclose(attr[i].sum() + residual[i], f[-1, i] - f[0, i], atol=1e-6)
