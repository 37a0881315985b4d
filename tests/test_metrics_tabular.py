"""XAI-Bench tabular metrics (faithfulness, monotonicity, infidelity) against closed forms on
additive models, a hand NumPy computation, and argument errors."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tfpath import metrics  # noqa: E402
from tfpath.datasets.tabular import contributions, make_xai_bench  # noqa: E402

A = np.array([3.0, -2.0, 1.0, 0.5, -0.25])
D = A.size


def linear(x):
    """f(x) = Σ_j a_j x_j (float64 scores of the float32 rows)."""
    return np.asarray(x, np.float64) @ A


@pytest.fixture(scope="module")
def gaussian_x():
    return np.random.default_rng(42).standard_normal((40, D)).astype(np.float32)


def shapley_linear(x):
    """Exact Shapley values of the linear model with independent zero-mean features: a ⊙ x."""
    return (A * x.astype(np.float64)).astype(np.float32)


# --------------------------------------------------------------------------- faithfulness
def test_faithfulness_additive_model_exact_shapley(gaussian_x):
    """E[f(x with j resampled)] = f(x) − a_j x_j, so Δ_j = |a_j x_j| = |φ_j| and the
    correlation is 1 up to Monte Carlo noise."""
    x = gaussian_x
    phi = shapley_linear(x)
    res = metrics.faithfulness(linear, x, phi, n_samples=1000)
    assert res.name == "faithfulness" and res.higher_is_better
    assert res.per_image.shape == (x.shape[0],)
    # Monte Carlo error of E f: |a_j| · mean of 1000 N(0, 1) draws (5 standard errors)
    assert np.all(np.abs(res.extra["deltas"] - np.abs(phi)) <= 5 * np.abs(A) / np.sqrt(1000))
    np.testing.assert_allclose(res.extra["full_scores"], linear(x), rtol=1e-6, atol=1e-6)
    assert res.value > 0.97
    # attributions permuted within each row are much less faithful
    rng = np.random.default_rng(7)
    shuffled = np.stack([row[rng.permutation(D)] for row in phi])
    res_shuffled = metrics.faithfulness(linear, x, shuffled, n_samples=1000)
    assert res_shuffled.value < 0.5 < res.value - 0.4


def test_faithfulness_single_background_row_is_exact(gaussian_x):
    """A one-row background b makes the expectation exact: Δ_j = |a_j (x_j − b_j)|."""
    x = gaussian_x[:10]
    b = np.array([[0.3, -1.0, 2.0, 0.0, 0.7]], np.float32)
    phi = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    res = metrics.faithfulness(linear, x, phi, sampler=b, n_samples=3)
    deltas = np.abs(A * (x.astype(np.float64) - b.astype(np.float64)))
    np.testing.assert_allclose(res.extra["deltas"], deltas, rtol=1e-5, atol=1e-5)
    expected = [np.corrcoef(np.abs(p), dl)[0, 1] for p, dl in zip(phi.astype(np.float64),
                                                                  deltas)]
    np.testing.assert_allclose(res.per_image, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(res.value, np.mean(expected), rtol=1e-4, atol=1e-5)


def test_faithfulness_xai_bench_shapley():
    """On the benchmark's additive score g = Σ ψ_i − const, E[g(x with i resampled)] =
    g(x) − φ_i, so Δ = |shapley| (0 exactly for the two irrelevant features)."""
    bench = make_xai_bench(30, seed=3)

    def g(x):
        return contributions(x).sum(axis=1)

    res = metrics.faithfulness(g, bench.x, bench.shapley.astype(np.float32), n_samples=800)
    np.testing.assert_allclose(res.extra["deltas"], np.abs(bench.shapley), atol=0.25)
    np.testing.assert_array_equal(res.extra["deltas"][:, 3:], 0.0)
    assert res.value > 0.9


def test_faithfulness_constant_vectors_score_zero(gaussian_x):
    x = gaussian_x[:5]
    res = metrics.faithfulness(linear, x, np.ones_like(x), n_samples=10)
    np.testing.assert_array_equal(res.per_image, 0.0)
    res = metrics.faithfulness(lambda v: np.zeros(v.shape[0]), x, shapley_linear(x),
                               n_samples=10)
    np.testing.assert_array_equal(res.per_image, 0.0)


def test_callable_sampler_and_background(gaussian_x):
    x = gaussian_x[:10]
    phi = shapley_linear(x)
    default = metrics.faithfulness(linear, x, phi, n_samples=50, seed=5)
    same = metrics.faithfulness(linear, x, phi, n_samples=50, seed=5,
                                sampler=lambda m, rng: rng.standard_normal((m, D)))
    np.testing.assert_allclose(same.per_image, default.per_image, rtol=1e-12)
    background = np.random.default_rng(1).standard_normal((5000, D)).astype(np.float32)
    res = metrics.faithfulness(linear, x, phi, sampler=background, n_samples=1000)
    assert res.value > 0.95


# --------------------------------------------------------------------------- monotonicity
def _separated_x(n, seed=0):
    """Rows whose |a_j x_j| are a permutation of (0.5, 1, 2, 3, 4) with random signs."""
    rng = np.random.default_rng(seed)
    mags = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
    rows = [mags[rng.permutation(D)] * rng.choice([-1.0, 1.0], D) / np.abs(A)
            for _ in range(n)]
    return np.asarray(rows, np.float32)


def test_monotonicity_additive_model_closed_form():
    """Δ_t = |a_(t) (x_(t) − mean z_(t))| ≈ |a_(t) x_(t)|: non-decreasing when φ = a ⊙ x orders
    the features by increasing |a x| (score 1), decreasing in the reverse order (score 0)."""
    x = _separated_x(12)
    phi = shapley_linear(x)
    res = metrics.monotonicity(linear, x, phi, n_samples=2000)
    assert res.name == "monotonicity" and res.higher_is_better
    np.testing.assert_allclose(res.extra["deltas"], np.sort(np.abs(phi), axis=1), atol=0.3)
    np.testing.assert_array_equal(res.per_image, 1.0)
    assert res.value == 1.0
    assert res.curves.shape == (12, D + 1)
    np.testing.assert_allclose(res.curves[:, -1], linear(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.curves[:, 0], 0.0, atol=0.4)       # E f(X) = 0
    reversed_ = metrics.monotonicity(linear, x, 1.0 / np.abs(phi), n_samples=2000)
    np.testing.assert_array_equal(reversed_.per_image, 0.0)


def test_monotonicity_single_background_row_is_exact(gaussian_x):
    """With one background row b, y_t = Σ_{fixed} a x + Σ_{others} a b exactly; the order is
    by rank of |φ| (not by feature index)."""
    x = gaussian_x[:8].astype(np.float64)
    b = np.array([0.3, -1.0, 2.0, 0.0, 0.7])
    phi = np.random.default_rng(2).standard_normal(x.shape)
    res = metrics.monotonicity(linear, x.astype(np.float32), phi.astype(np.float32),
                               sampler=b[None].astype(np.float32), n_samples=2)
    x = x.astype(np.float32).astype(np.float64)
    b = b.astype(np.float32).astype(np.float64)
    for i in range(x.shape[0]):
        order = np.argsort(np.abs(phi[i].astype(np.float32)))
        point = b.copy()
        y = [A @ point]
        for j in order:
            point[j] = x[i, j]
            y.append(A @ point)
        deltas = np.abs(np.diff(y))
        np.testing.assert_array_equal(res.extra["order"][i], order)
        np.testing.assert_allclose(res.curves[i], y, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(res.extra["deltas"][i], deltas, rtol=1e-5, atol=1e-5)
        assert res.per_image[i] == np.sum(np.diff(deltas) >= 0) / (D - 1)


# --------------------------------------------------------------------------- infidelity
def test_infidelity_gradient_of_linear_model_is_zero(gaussian_x):
    """For f = a·x and φ = ∇f = a, Δf = a·I = s exactly, β = 1, infidelity 0."""
    x = gaussian_x
    phi = np.broadcast_to(A, x.shape).astype(np.float32)
    res = metrics.infidelity(linear, x, phi, n_perturbations=200)
    assert res.name == "infidelity" and not res.higher_is_better
    assert res.value < 1e-12
    np.testing.assert_allclose(res.extra["beta"], 1.0, rtol=1e-9)
    # scale-invariant: 3·∇f is just as good
    assert metrics.infidelity(linear, x, 3 * phi, n_perturbations=200).value < 1e-12
    wrong = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    assert metrics.infidelity(linear, x, wrong, n_perturbations=200).value > 1e-2


def test_infidelity_matches_hand_computation():
    """The xai-bench loop, written out for each datapoint with the same draws."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, D)).astype(np.float32) * 0.8 + 0.2
    phi = rng.standard_normal((4, D)).astype(np.float32)
    w = rng.standard_normal(D)

    def f(v):
        v = np.asarray(v, np.float64)
        return np.tanh(v) @ w + v[:, 0] * v[:, 1]

    k = 300
    res = metrics.infidelity(f, x, phi, n_perturbations=k, scale=0.2, seed=11)
    eps = np.random.default_rng(11).standard_normal((4, k, D))
    for i in range(4):
        xi = x[i].astype(np.float64)
        rand = eps[i] * 0.2 + xi
        rand = np.minimum(xi, rand)
        rand = np.maximum(xi - 1, rand)
        x_ptb = xi - rand
        exp_sum = np.sum(rand * phi[i], axis=1)
        pdt_diff = f(xi[None]) - f(x_ptb)
        beta = np.mean(pdt_diff * exp_sum) / np.mean(exp_sum * exp_sum)
        infid = np.mean(np.square(pdt_diff - beta * exp_sum))
        np.testing.assert_allclose(res.extra["beta"][i], beta, rtol=1e-4)
        np.testing.assert_allclose(res.per_image[i], infid, rtol=1e-4)
    np.testing.assert_allclose(res.value, res.per_image.mean())


def test_infidelity_zero_attributions():
    """φ = 0 gives s = 0: β = 0 and the infidelity is mean(Δf²) (not NaN)."""
    x = _separated_x(3)
    res = metrics.infidelity(linear, x, np.zeros_like(x), n_perturbations=50)
    np.testing.assert_array_equal(res.extra["beta"], 0.0)
    assert np.all(np.isfinite(res.per_image)) and np.all(res.per_image > 0)


# --------------------------------------------------------------------------- models, classes
def test_class_outputs_use_class_idx(gaussian_x):
    x = gaussian_x[:6]
    phi = shapley_linear(x)

    def two(v):
        return np.stack([np.zeros(v.shape[0]), linear(v)], axis=1)

    for metric, kw in [(metrics.faithfulness, dict(n_samples=20)),
                       (metrics.monotonicity, dict(n_samples=20)),
                       (metrics.infidelity, dict(n_perturbations=20))]:
        scalar = metric(linear, x, phi, **kw)
        by_class = metric(two, x, phi, 1, **kw)
        np.testing.assert_allclose(by_class.per_image, scalar.per_image, rtol=1e-12)
        with pytest.raises(ValueError, match="class_idx"):
            metric(two, x, phi, **kw)


def test_keras_model_with_class_idx(gaussian_x):
    keras = pytest.importorskip("keras")
    x = gaussian_x[:8]
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(2)])
    kernel = np.stack([np.ones(D), A], axis=1).astype(np.float32)
    model.layers[-1].set_weights([kernel, np.array([0.0, 0.5], np.float32)])
    phi = np.broadcast_to(A, x.shape).astype(np.float32)
    res = metrics.infidelity(model, x, phi, class_idx=1, n_perturbations=100)
    assert res.value < 1e-8
    np.testing.assert_allclose(res.extra["full_scores"], linear(x) + 0.5, rtol=1e-5, atol=1e-5)
    faith = metrics.faithfulness(model, x, shapley_linear(x), class_idx=1, n_samples=20)
    ref = metrics.faithfulness(linear, x, shapley_linear(x), n_samples=20)
    np.testing.assert_allclose(faith.per_image, ref.per_image, atol=1e-3)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("metric,kw", [
    (metrics.faithfulness, {}), (metrics.monotonicity, {}), (metrics.infidelity, {})])
def test_bad_inputs_name_the_argument(gaussian_x, metric, kw):
    x = gaussian_x[:4]
    phi = shapley_linear(x)
    with pytest.raises(ValueError, match="attributions"):
        metric(linear, x, phi[:, :3])
    with pytest.raises(ValueError, match="attributions"):
        metric(linear, x, phi[:3])
    bad = phi.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="attributions"):
        metric(linear, x, bad)
    bad = x.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="x"):
        metric(linear, bad, phi)
    with pytest.raises(ValueError, match="x"):
        metric(linear, x[0], phi[0])
    with pytest.raises(ValueError, match="class_idx"):
        metric(linear, x, phi, [0, 1])
    with pytest.raises(TypeError, match="model"):
        metric(42, x, phi)


@pytest.mark.parametrize("metric", [metrics.faithfulness, metrics.monotonicity])
def test_bad_sampling_arguments(gaussian_x, metric):
    x = gaussian_x[:4]
    phi = shapley_linear(x)
    with pytest.raises(ValueError, match="n_samples"):
        metric(linear, x, phi, n_samples=0)
    with pytest.raises(TypeError, match="n_samples"):
        metric(linear, x, phi, n_samples=2.5)
    with pytest.raises(ValueError, match="sampler"):
        metric(linear, x, phi, sampler=np.zeros((10, D + 1), np.float32))
    with pytest.raises(ValueError, match="sampler"):
        metric(linear, x, phi, sampler=lambda m, rng: rng.standard_normal((m, D - 1)))
    nan_bg = np.zeros((10, D), np.float32)
    nan_bg[3, 0] = np.nan
    with pytest.raises(ValueError, match="sampler"):
        metric(linear, x, phi, sampler=nan_bg)
    with pytest.raises(ValueError, match="x"):      # one feature: no correlation / no pairs
        metric(linear, x[:, :1], phi[:, :1])


def test_bad_infidelity_arguments(gaussian_x):
    x = gaussian_x[:4]
    phi = shapley_linear(x)
    with pytest.raises(ValueError, match="n_perturbations"):
        metrics.infidelity(linear, x, phi, n_perturbations=0)
    with pytest.raises(ValueError, match="scale"):
        metrics.infidelity(linear, x, phi, scale=-0.1)


# --------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("metric,kw", [
    (metrics.faithfulness, dict(n_samples=30)), (metrics.monotonicity, dict(n_samples=30)),
    (metrics.infidelity, dict(n_perturbations=30))])
def test_deterministic_and_global_rng_untouched(gaussian_x, metric, kw):
    x = gaussian_x[:10]
    phi = np.random.default_rng(9).standard_normal(x.shape).astype(np.float32)
    np.random.seed(1234)
    state = np.random.get_state()
    first = metric(linear, x, phi, seed=3, **kw)
    after = np.random.get_state()
    assert state[0] == after[0] and state[2:] == after[2:]
    np.testing.assert_array_equal(state[1], after[1])
    second = metric(linear, x, phi, seed=3, **kw)
    np.testing.assert_array_equal(first.per_image, second.per_image)
    other = metric(linear, x, phi, seed=4, **kw)
    noisy = "curves" if metric is metrics.monotonicity else "per_image"   # fractions may tie
    assert not np.array_equal(getattr(first, noisy), getattr(other, noisy))
