"""LPI (Yang et al., "Local Path Integration for Attribution", AAAI 2023): Example 1,
Expected Gradients, the local distributions, LPI and AGI, on closed forms and properties."""
import numpy as np
import pytest
import tensorflow as tf

import tfpath
from tfpath.datasets import load_digits
from tfpath.zoo import small_cnn


# --------------------------------------------------------------------- Example 1 and 2
def example_1(x):
    """F = x1 + 3 x2 if x1, x2 <= 1; 3 x1 + x2 if x1, x2 > 1; 0 otherwise (the paper's Ex. 1)."""
    x1, x2 = x[:, 0], x[:, 1]
    low = tf.logical_and(x1 <= 1, x2 <= 1)
    high = tf.logical_and(x1 > 1, x2 > 1)
    return tf.where(low, x1 + 3 * x2, tf.where(high, 3 * x1 + x2, tf.zeros_like(x1)))


@pytest.fixture(scope="module")
def ex1():
    return tfpath.ModelFunction(example_1, target="score")


def test_example_1_ig_from_zero(ex1):
    # the midpoint rule on 12·k segments is exact: no midpoint is on a kink (α = 2/3, 1/4)
    ig = tfpath.IntegratedGradients()
    masks = ig.GetMaskBatch(np.array([[1.5, 1.5], [4.0, 4.0]], np.float32), ex1, x_steps=12,
                            integrator="midpoint")
    np.testing.assert_allclose(masks, [[2.5, 3.5], [10.0, 6.0]], rtol=1e-6)


def test_example_2_a_reference_in_the_same_piece_gives_3_to_1(ex1):
    ig = tfpath.IntegratedGradients()
    ref = np.array([1.2, 1.2], np.float32)
    masks = ig.GetMaskBatch(np.array([[1.5, 1.5], [4.0, 4.0]], np.float32), ex1, x_baseline=ref,
                            x_steps=5)
    np.testing.assert_allclose(masks, [[0.9, 0.3], [8.4, 2.8]], rtol=1e-5)
    np.testing.assert_allclose(masks[:, 0] / masks[:, 1], [3.0, 3.0], rtol=1e-5)


# --------------------------------------------------------------------- Expected Gradients
W = np.random.default_rng(0).normal(size=(4, 4, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def linear_image_mf():
    return tfpath.ModelFunction(lambda v: tf.reduce_sum(v * W, axis=[1, 2, 3]), target="score")


@pytest.fixture(scope="module")
def pool():
    return np.random.default_rng(1).random((50, 4, 4, 1)).astype(np.float32)


def eg_error(mf, x, pool, nsamples, seed):
    mask = tfpath.ExpectedGradients().GetMask(x, mf, references=pool, nsamples=nsamples,
                                              seed=seed)
    target = W * (x - pool.mean(axis=0))
    return np.abs(mask - target).max() / np.abs(target).max()


def test_expected_gradients_converges_to_the_pool_mean_on_a_linear_model(linear_image_mf, pool):
    x = np.random.default_rng(2).random((4, 4, 1)).astype(np.float32)
    errors = {n: np.mean([eg_error(linear_image_mf, x, pool, n, s) for s in range(3)])
              for n in (64, 1024, 4096)}
    assert errors[64] > errors[1024] > errors[4096], errors
    assert errors[4096] < 0.08, errors
    # with the pool as its own sample (N draws of each reference) and α exact, EG is IG from
    # the mean: on a linear model, (x - mean) ⊙ w whatever α is


def test_expected_gradients_is_batched_and_seeded(linear_image_mf, pool):
    x = np.random.default_rng(3).random((3, 4, 4, 1)).astype(np.float32)
    eg = tfpath.ExpectedGradients()
    a = eg.GetMaskBatch(x, linear_image_mf, references=pool, nsamples=32, seed=7)
    b = eg.GetMaskBatch(x, linear_image_mf, references=pool, nsamples=32, seed=7,
                        batch_size=5)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    state = np.random.get_state()
    eg.GetMaskBatch(x, linear_image_mf, references=pool, nsamples=4)
    assert np.array_equal(np.random.get_state()[1], state[1])    # no global RNG draws


def test_expected_gradients_details_and_idgi(cnn, images):
    mf = tfpath.ModelFunction(cnn, target="logit")
    refs = np.random.default_rng(4).random((20,) + images.shape[1:]).astype(np.float32)
    eg = tfpath.ExpectedGradients()
    d = eg.GetMaskBatchWithDetails(images[:2], mf, {"class_idx": [0, 3]}, references=refs,
                                   nsamples=16, seed=1, integrator="idgi")
    # IDGI on random nodes is complete per sample, up to zero-gradient residuals
    np.testing.assert_allclose(d.convergence_delta + d.idgi_residual, 0.0, atol=1e-5)
    assert d.baseline_values.shape == (2, 16) and d.path_values.shape == (2, 16, 1)


# --------------------------------------------------------------------- the local distribution
@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def digit_model():
    return small_cnn((8, 8, 1), 10, width=8, seed=4)


@pytest.fixture(scope="module")
def distribution(digit_model, digits):
    return tfpath.LocalDistribution.fit(digit_model, digits.x_train[:400], n_neighbourhoods=4,
                                        n_references=6, seed=0)


def test_offline_stage(distribution, digit_model, digits):
    from sklearn.cluster import KMeans
    d = distribution
    x = digits.x_train[:400]
    logits = digit_model.predict(x, verbose=0).astype(np.float64)
    assert d.centroids.shape == (4, 10) and d.offsets[-1] == d.references.shape[0]
    top = KMeans(4, n_init=3, max_iter=600, random_state=0).fit(logits)
    np.testing.assert_allclose(d.centroids, top.cluster_centers_, rtol=1e-6, atol=1e-6)
    for i in range(4):
        refs, dens = d.neighbourhood(i)
        idx = d.reference_indices[d.offsets[i]:d.offsets[i + 1]]
        np.testing.assert_array_equal(refs, x[idx])               # the training inputs (Q3)
        assert len(set(idx)) == len(idx) == 6                      # distinct references (Q5)
        assert np.isclose(dens.sum(), 1.0)
        members = np.flatnonzero(top.labels_ == i)
        sub = KMeans(6, n_init=3, max_iter=600, random_state=0).fit(logits[members])
        for j in range(6):
            in_j = members[sub.labels_ == j]
            nearest = in_j[np.argmin(np.linalg.norm(logits[in_j] - sub.cluster_centers_[j],
                                                    axis=1))]
            assert idx[j] == nearest                               # nearest in its sub-cluster
            assert np.isclose(dens[j], in_j.size / members.size)   # its own density (Q2)
    # each neighbourhood keeps its own densities (the authors' code reuses the last one's)
    assert not np.allclose(d.neighbourhood(0)[1], d.neighbourhood(3)[1])
    # assignment is the nearest centroid of the logits
    test = digits.x_test[:20]
    t_logits = digit_model.predict(test, verbose=0).astype(np.float64)
    np.testing.assert_array_equal(d.assign(test), np.argmin(
        np.linalg.norm(t_logits[:, None] - d.centroids[None], axis=2), axis=1))


def test_fit_is_deterministic_and_save_load_gives_identical_attributions(distribution,
                                                                       digit_model, digits,
                                                                       tmp_path):
    again = tfpath.LocalDistribution.fit(digit_model, digits.x_train[:400], 4, 6, seed=0)
    np.testing.assert_array_equal(again.reference_indices, distribution.reference_indices)
    path = distribution.save(tmp_path / "lpi")
    loaded = tfpath.LocalDistribution.load(path, model=digit_model)
    mf = tfpath.ModelFunction(digit_model, target="logit")
    x, c = digits.x_test[:3], digits.y_test[:3]
    a = tfpath.LPI(distribution).GetMaskBatch(x, mf, {"class_idx": c}, seed=5)
    b = tfpath.LPI(loaded).GetMaskBatch(x, mf, {"class_idx": c}, seed=5)
    np.testing.assert_array_equal(a, b)
    # loaded without a model, LPI uses the ModelFunction's model to assign neighbourhoods
    bare = tfpath.LocalDistribution.load(path)
    np.testing.assert_array_equal(tfpath.LPI(bare).GetMaskBatch(x, mf, {"class_idx": c},
                                                                seed=5), a)


def test_lpi_estimators(distribution, digit_model, digits):
    mf = tfpath.ModelFunction(digit_model, target="logit")
    x, c = digits.x_test[:4], digits.y_test[:4]
    lpi = tfpath.LPI(distribution)
    paper = lpi.GetMaskBatch(x, mf, {"class_idx": c}, seed=2)
    code = lpi.GetMaskBatch(x, mf, {"class_idx": c}, seed=2, estimator="code",
                            alpha_range=(0.0, 1.0))
    np.testing.assert_allclose(code, paper / distribution.n_references, rtol=1e-5, atol=1e-9)
    # the expectation estimator is complete in expectation; with IDGI on random nodes exactly
    d = lpi.GetMaskBatchWithDetails(x, mf, {"class_idx": c}, seed=3, integrator="idgi")
    hood = distribution.assign(x)
    f = mf.predict
    for i in range(4):
        refs, dens = distribution.neighbourhood(hood[i])
        expected = f(x[i:i + 1], c[i:i + 1])[0] - np.sum(dens * f(refs, np.full(len(refs), c[i])))
        assert np.isclose(d.mask[i].sum() + d.idgi_residual[i], expected, atol=1e-4)
    rel = {k: np.abs(r.convergence_delta) / np.abs(r.end_value - r.start_value)
           for k in (4, 256)
           for r in [lpi.GetMaskBatchWithDetails(x, mf, {"class_idx": c}, seed=3, k=k)]}
    assert rel[256].mean() < 0.1 and rel[256].mean() < rel[4].mean(), rel


def test_lpi_chooses_the_neighbourhoods_inside_the_engine_call(distribution, digit_model,
                                                               digits, monkeypatch):
    """Once a ModelFunction's class count is known (its first call), LPI runs the model on the
    inputs inside the engine's compiled call, where the nearest centroid picks each input's
    references: no model call before it, and the masks, deltas and weights of the host's
    assignment (a fresh ModelFunction's first call)."""
    x, c = digits.x_test[:6], digits.y_test[:6]
    hoods = distribution.assign(x)
    assert len(set(hoods)) > 1                     # the choice differs between inputs
    lpi = tfpath.LPI(distribution)
    checks = []
    check = tfpath.ModelFunction.checked_outputs_and_values
    monkeypatch.setattr(tfpath.ModelFunction, "checked_outputs_and_values",
                        lambda self, *a: checks.append(1) or check(self, *a))
    for options in ({}, {"estimator": "code"}, {"integrator": "idgi"}, {"k": 3}):
        mf = tfpath.ModelFunction(digit_model, target="logit")
        host = lpi.GetMaskBatchWithDetails(x, mf, {"class_idx": c}, seed=4, **options)
        checks.clear()
        graph = lpi.GetMaskBatchWithDetails(x, mf, {"class_idx": c}, seed=4, **options)
        assert not checks, options                 # the model did not run before the loop
        np.testing.assert_allclose(graph.mask, host.mask, rtol=1e-5,
                                   atol=1e-6 * np.abs(host.mask).max())
        np.testing.assert_allclose(graph.convergence_delta, host.convergence_delta, atol=1e-5)
        np.testing.assert_allclose(graph.baseline_weights, host.baseline_weights)
        np.testing.assert_allclose(graph.end_value, mf.predict(x, c), rtol=1e-5)
    # the host's weights are the densities of each input's nearest neighbourhood
    for i, h in enumerate(hoods):
        np.testing.assert_allclose(graph.baseline_weights[i], distribution.neighbourhood(h)[1])


def test_lpi_checks_the_outputs_it_computed_in_the_loop():
    """The outputs computed inside the loop are checked as the boundary check would: NaN
    outputs and classes out of range raise, naming the argument."""
    def logits(v):                     # NaN wherever one of three central pixels is < 0
        return tf.math.log(tf.gather(tf.reshape(v, [-1, 64]), [27, 28, 35], axis=1))
    mf = tfpath.ModelFunction(logits, target="logit", output="logits")
    rng = np.random.default_rng(0)
    x_train = rng.uniform(0.1, 1.0, (60, 8, 8, 1)).astype(np.float32)
    distribution = tfpath.LocalDistribution.fit(mf, x_train, n_neighbourhoods=2,
                                                n_references=3, seed=0)
    lpi = tfpath.LPI(distribution)
    x = rng.uniform(0.1, 1.0, (2, 8, 8, 1)).astype(np.float32)
    lpi.GetMaskBatch(x, mf, {"class_idx": [0, 1]}, seed=0)        # learns the class count
    bad = x.copy()
    bad[1, 3, 3, 0] = -1.0
    with pytest.raises(ValueError, match="model: produced NaN or inf outputs"):
        lpi.GetMaskBatch(bad, mf, {"class_idx": [0, 1]}, seed=0)
    with pytest.raises(ValueError, match=r"call_model_args\['class_idx'\]"):
        lpi.GetMaskBatch(x, mf, {"class_idx": [0, 3]}, seed=0)


def test_lpi_on_other_targets(distribution, digit_model, digits):
    """Any target: the predictive entropy (no class) is attributed, complete with IDGI."""
    mf = tfpath.ModelFunction(digit_model, target="entropy")
    d = tfpath.LPI(distribution).GetMaskBatchWithDetails(digits.x_test[:3], mf, None, seed=0,
                                                         integrator="idgi")
    assert d.mask.shape == (3, 8, 8, 1)
    np.testing.assert_allclose(d.convergence_delta + d.idgi_residual, 0.0, atol=1e-5)
    prob = tfpath.ModelFunction(digit_model, target="probability")
    mask = tfpath.LPI(distribution).GetMask(digits.x_test[0], prob, {"class_idx": 2}, seed=0)
    assert np.isfinite(mask).all() and np.abs(mask).max() > 0


def test_lpi_reference_sampling(distribution, digit_model, digits):
    mf = tfpath.ModelFunction(digit_model, target="logit")
    d = tfpath.LPI(distribution).GetMaskBatchWithDetails(digits.x_test[:2], mf,
                                                         {"class_idx": [0, 1]}, seed=1,
                                                         references="sampled")
    np.testing.assert_allclose(d.baseline_weights, 1.0 / 6)


# --------------------------------------------------------------------- AGI
def test_agi_matches_the_algorithm_on_a_linear_model():
    """On logits W x, AGI's steps are sign(w_t) and its attribution -w_c ⊙ (x_K - x)."""
    rng = np.random.default_rng(5)
    wm = rng.normal(size=(6, 3)).astype(np.float32)
    mf = tfpath.ModelFunction(lambda v: tf.matmul(v, wm), target="logit")
    x = rng.uniform(0.2, 0.8, size=(2, 6)).astype(np.float32)
    d = tfpath.AGI().GetMaskBatchWithDetails(x, mf, {"class_idx": [0, 1]}, targets=[2],
                                             epsilon=0.03, steps=15)
    for i, c in enumerate([0, 1]):
        xk = x[i].astype(np.float64)
        for _ in range(15):                                  # the paper's Algorithm 1
            if np.argmax(xk @ wm) == 2:
                break
            xk = np.clip(xk + 0.03 * np.sign(wm[:, 2]), 0.0, 1.0)
        np.testing.assert_allclose(d.path_end[i], xk, atol=1e-6)
        np.testing.assert_allclose(d.mask[i], -wm[:, c] * (xk - x[i]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.convergence_delta, 0.0, atol=1e-5)


def test_agi_on_a_cnn_is_complete_with_idgi_and_batched(cnn, images):
    mf = tfpath.ModelFunction(cnn, target="logit")
    agi = tfpath.AGI()
    d = agi.GetMaskBatchWithDetails(images[:3], mf, {"class_idx": [0, 1, 2]}, n_targets=2,
                                    seed=0, integrator="idgi", steps=8)
    np.testing.assert_allclose(d.convergence_delta + d.idgi_residual, 0.0, atol=1e-5)
    assert d.path_end.shape == (3, 2) + images.shape[1:]
    one = agi.GetMask(images[1], mf, {"class_idx": 1}, targets=[3], steps=8)
    batch = agi.GetMaskBatch(images[:3], mf, {"class_idx": [0, 1, 2]}, targets=[[4], [3], [0]],
                             steps=8)
    np.testing.assert_allclose(batch[1], one, rtol=1e-4, atol=1e-6)


def test_agi_code_variant_steps_from_the_input():
    rng = np.random.default_rng(6)
    wm = rng.normal(size=(5, 3)).astype(np.float32)
    mf = tfpath.ModelFunction(lambda v: tf.matmul(v, wm), target="logit")
    x = rng.uniform(0.2, 0.8, size=(1, 5)).astype(np.float32)
    mask = tfpath.AGI().GetMaskBatch(x, mf, {"class_idx": 0}, targets=[1], steps=4,
                                     variant="code", early_stop=False)
    step = np.clip(x[0] + 0.05 * np.sign(wm[:, 1]), 0, 1) - x[0]
    np.testing.assert_allclose(mask[0], -4 * wm[:, 0] * step, rtol=1e-5)


# --------------------------------------------------------------------- errors
def test_errors_name_the_argument(distribution, digit_model, digits, cnn, images):
    mf = tfpath.ModelFunction(digit_model, target="logit")
    x = digits.x_test[:2]
    eg = tfpath.ExpectedGradients()
    with pytest.raises(ValueError, match="references"):
        eg.GetMaskBatch(x, mf, {"class_idx": 0}, references=np.zeros((5, 4, 4, 1)))
    with pytest.raises(ValueError, match="references"):
        eg.GetMaskBatch(x, mf, {"class_idx": 0})
    with pytest.raises(ValueError, match="nsamples"):
        eg.GetMaskBatch(x, mf, {"class_idx": 0}, references=digits.x_train[:5], nsamples=0)
    with pytest.raises(ValueError, match="integrator"):
        eg.GetMaskBatch(x, mf, {"class_idx": 0}, references=digits.x_train[:5],
                        integrator="left")
    with pytest.raises(ValueError, match="n_neighbourhoods"):
        tfpath.LocalDistribution.fit(digit_model, digits.x_train[:5], n_neighbourhoods=6)
    other = small_cnn((8, 8, 1), 7, width=4, seed=0)
    with pytest.raises(ValueError, match="distribution: fitted for a model with 10 logits"):
        tfpath.LPI(distribution, model=other).GetMaskBatch(
            x, tfpath.ModelFunction(other), {"class_idx": 0})
    with pytest.raises(ValueError, match="estimator"):
        tfpath.LPI(distribution).GetMaskBatch(x, mf, {"class_idx": 0}, estimator="torch")
    with pytest.raises(ValueError, match="x_value"):
        tfpath.LPI(distribution).GetMaskBatch(images[:1], tfpath.ModelFunction(cnn),
                                              {"class_idx": 0})
    with pytest.raises(TypeError, match="call_model_function: AGI needs"):
        tfpath.AGI().GetMask(x[0], lambda x_batch, call_model_args=None, expected_keys=None:
                             mf(x_batch, call_model_args, expected_keys), {"class_idx": 0})
    with pytest.raises(ValueError, match="n_targets"):
        tfpath.AGI().GetMask(x[0], mf, {"class_idx": 0}, n_targets=10)
    with pytest.raises(ValueError, match="targets"):
        tfpath.AGI().GetMask(x[0], mf, {"class_idx": 0}, targets=[0])
    with pytest.raises(ValueError, match="value_range"):
        tfpath.AGI().GetMask(x[0] * 3, mf, {"class_idx": 0})
