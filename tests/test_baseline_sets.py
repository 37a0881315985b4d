"""Engine v2: weighted baseline sets, per-row α, per-row context, auxiliary gradients and the
final path state, on closed forms."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import tfpath
from tfpath import baselines, engine, integrate
from tfpath.paths import StraightPath
from tfpath.protocols import BaselineSet, ChosenBaselines, Schedule

W = np.array([0.5, -2.0, 1.5, 0.0, 3.0], np.float32)


@pytest.fixture(scope="module")
def linear_mf():
    return tfpath.ModelFunction(lambda x: tf.reduce_sum(x * W, axis=1) + 0.7, target="score")


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(3)
    return rng.normal(size=(3, 5)).astype(np.float32), rng.normal(size=(4, 5)).astype(np.float32)


def test_ig_with_identical_baselines_equals_single_baseline_ig(cnn, images):
    mf = tfpath.ModelFunction(cnn, target="logit")
    base = np.full_like(images[0], 0.2)
    ig = tfpath.IntegratedGradients()
    single = ig.GetMaskBatch(images[:2], mf, {"class_idx": [1, 3]}, x_baseline=base, x_steps=10)
    many = ig.GetMaskBatch(images[:2], mf, {"class_idx": [1, 3]}, x_steps=10,
                           baselines=np.stack([base] * 4))
    np.testing.assert_allclose(many, single, rtol=1e-6, atol=1e-7 * np.abs(single).max())


@pytest.mark.parametrize("method,kwargs", [
    (tfpath.IntegratedGradients, dict(x_steps=3)),
    (tfpath.IntegratedGradients, dict(x_steps=3, integrator="idgi")),
    (tfpath.GuidedIG, dict(x_steps=6)),
    (tfpath.GuidedIG, dict(x_steps=6, integrator="idgi")),
])
def test_linear_model_completeness_is_exact_with_weighted_baselines(linear_mf, points, method,
                                                                    kwargs):
    x, b = points
    relative = np.array([1.0, 2.0, 5.0, 0.5])
    d = method().GetMaskBatchWithDetails(x, linear_mf, baselines=b, baseline_weights=relative,
                                         **kwargs)
    w = relative / relative.sum()
    expected = np.array([np.sum(w * ((xi - b) @ W)) for xi in x])        # Σ_b w_b (F(x) - F(b))
    np.testing.assert_allclose(d.mask.sum(axis=1), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d.convergence_delta, 0.0, atol=1e-4)
    np.testing.assert_allclose(d.baseline_values, np.broadcast_to(b @ W + 0.7, (3, 4)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d.baseline_weights, np.broadcast_to(w, (3, 4)))
    if method is tfpath.IntegratedGradients and "integrator" not in kwargs:
        # IG on a linear model is (x - b) ⊙ w per baseline, exactly
        np.testing.assert_allclose(d.mask, (w[None, :, None] * (x[:, None] - b[None])).sum(1) * W,
                                   rtol=1e-5, atol=1e-6)


def test_per_input_baseline_sets_and_weights(linear_mf, points):
    x, _ = points
    rng = np.random.default_rng(0)
    sets = rng.normal(size=(3, 2, 5)).astype(np.float32)                 # [B, M, ...]
    w = np.array([[1.0, 0.0], [1.0, 3.0], [0.2, 0.2]])
    mask = tfpath.IntegratedGradients().GetMaskBatch(x, linear_mf, baselines=sets,
                                                     baseline_weights=w, x_steps=2)
    wn = w / w.sum(1, keepdims=True)
    expected = np.einsum("bm,bmf->bf", wn, x[:, None] - sets) * W
    np.testing.assert_allclose(mask, expected, rtol=1e-5, atol=1e-6)


def test_blur_ig_toward_a_baseline_set_is_complete(smooth_cnn):
    mf = tfpath.ModelFunction(smooth_cnn, target="logit")
    x = np.random.default_rng(1).random((10, 10, 1)).astype(np.float32)
    sets = np.stack([np.zeros_like(x), np.full_like(x, 0.5)])
    d = tfpath.BlurIG().GetMaskWithDetails(x, mf, {"class_idx": 1}, baselines=sets, steps=64,
                                           max_sigma=20, integrator="idgi")
    assert abs(d.convergence_delta) < 1e-5
    # the default (no baselines) is PAIR's Blur IG, i.e. the blur toward 0
    plain = tfpath.BlurIG().GetMask(x, mf, {"class_idx": 1}, steps=16, max_sigma=6)
    zero = tfpath.BlurIG().GetMask(x, mf, {"class_idx": 1}, steps=16, max_sigma=6,
                                   baselines=np.zeros_like(x)[None])
    np.testing.assert_allclose(zero, plain, rtol=1e-6, atol=1e-9)


def test_per_row_alpha_gives_exact_monte_carlo_sums():
    # F = Σ x², ∇F(b + α(x - b)) = 2(b + α(x - b)); one node per row at a known α
    mf = tfpath.ModelFunction(lambda v: tf.reduce_sum(v ** 2, axis=1), target="score")
    x = np.array([[1.0, 2.0]], np.float32)
    pool = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, 2.0]], np.float32)
    base = BaselineSet(pool, np.array([[0, 1, 2]]), np.full((1, 3), 1 / 3))
    alphas = np.array([[0.25, 0.5, 0.75]])
    schedule = Schedule(alphas, np.ones_like(alphas), False, False)
    res = engine.integrate(engine.ModelEvaluator(mf), StraightPath(), integrate.MonteCarlo(), x,
                           base, schedule, details=True)
    expected = sum((x[0] - b) * 2 * (b + a * (x[0] - b)) for a, b in zip(alphas[0], pool)) / 3
    np.testing.assert_allclose(res.attribution[0], expected, rtol=1e-6)
    np.testing.assert_allclose(res.baseline_values[0], (pool ** 2).sum(1), rtol=1e-6)
    np.testing.assert_allclose(res.input_values[0], [5.0] * 3, rtol=1e-6)
    np.testing.assert_allclose(res.path_values[0, :, 0],
                               [((b + a * (x[0] - b)) ** 2).sum() for a, b in zip(alphas[0], pool)],
                               rtol=1e-6)


def test_without_details_the_baselines_are_not_evaluated_and_f_ranges_over_the_nodes():
    """A plain call of a straight path whose nodes miss its ends evaluates the model at the
    nodes only (plus F(x), here given): F at the baselines is not computed, and the range of F
    over each row's nodes is returned instead (closed form: F = Σ v² on known nodes)."""
    rows_seen = tf.Variable(0)

    def squares(v):
        rows_seen.assign_add(tf.shape(v)[0])
        return tf.reduce_sum(v ** 2, axis=1)
    mf = tfpath.ModelFunction(squares, target="score")
    x = np.array([[1.0, 2.0], [0.0, 1.0]], np.float32)
    pool = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, 2.0]], np.float32)
    base = BaselineSet(pool, np.array([[0, 1, 2], [2, 1, 0]]), np.full((2, 3), 1 / 3))
    alphas = np.array([[0.25, 0.5, 0.75, 0.1, 0.2, 0.3], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]])
    schedule = Schedule(alphas, np.full_like(alphas, 0.5), False, False)
    res = engine.integrate(engine.ModelEvaluator(mf), StraightPath(), integrate.MonteCarlo(), x,
                           base, schedule, input_values=np.array([5.0, 1.0]))
    assert rows_seen.numpy() == alphas.size                 # 12 points, no forward elsewhere
    assert res.baseline_values is None
    np.testing.assert_allclose(res.input_values, [[5.0] * 3, [1.0] * 3])
    for e in range(2):
        for j in range(3):
            b = pool[base.index[e, j]]
            f = [((b + a * (x[e] - b)) ** 2).sum() for a in alphas[:, e * 3 + j]]
            np.testing.assert_allclose(res.value_range[e, j], [min(f), max(f)], rtol=1e-6)


@dataclasses.dataclass(frozen=True)
class SignOfFirstOutput:
    """A BaselineChoice: candidate set 1 where the model's output exceeds a threshold."""

    def choose(self, outputs, threshold):
        return tf.cast(tf.reshape(outputs, [-1]) > threshold, tf.int32)


def test_baselines_chosen_in_the_loop_from_the_outputs_at_the_inputs():
    """ChosenBaselines: the model runs on the inputs inside the compiled call and the choice
    picks each input's set (closed form: F = Σ v², exact Monte Carlo sums on known nodes)."""
    mf = tfpath.ModelFunction(lambda v: tf.reduce_sum(v ** 2, axis=1), target="score")
    x = np.array([[1.0, 2.0], [0.1, 0.2], [2.0, 0.0]], np.float32)        # F = 5, 0.05, 4
    pool = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, 2.0], [0.5, 0.5]], np.float32)
    index = np.array([[0, 1], [2, 3]])
    weights = np.array([[0.25, 0.75], [1.0, 0.0]])      # a weight-0 slot contributes nothing
    chosen = ChosenBaselines(pool, index, weights, SignOfFirstOutput(), (np.float32(1.0),))
    alphas = np.random.default_rng(0).uniform(size=(2, 6))
    schedule = Schedule(alphas, np.full_like(alphas, 0.5), False, False)
    res = engine.integrate(engine.ModelEvaluator(mf), StraightPath(), integrate.MonteCarlo(), x,
                           chosen, schedule, details=True)
    picks = [1, 0, 1]
    np.testing.assert_allclose(res.outputs, (x ** 2).sum(1), rtol=1e-6)
    np.testing.assert_allclose(res.weights, weights[picks])
    for e, c in enumerate(picks):
        expected = sum(w * 0.5 * (x[e] - pool[j]) * 2 * (pool[j] + a * (x[e] - pool[j]))
                       for m, (j, w) in enumerate(zip(index[c], weights[c]))
                       for a in alphas[:, e * 2 + m])
        np.testing.assert_allclose(res.attribution[e], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(res.baseline_values[e], (pool[index[c]] ** 2).sum(1),
                                   rtol=1e-6)
        np.testing.assert_allclose(res.input_values[e], [(x[e] ** 2).sum()] * 2, rtol=1e-6)
    # several groups of rows (two rows per model call) give the same
    grouped = engine.integrate(engine.ModelEvaluator(mf), StraightPath(),
                               integrate.MonteCarlo(), x, chosen, schedule, batch_size=2)
    np.testing.assert_allclose(grouped.attribution, res.attribution, rtol=1e-6)


def test_chosen_baselines_errors_name_the_argument(linear_mf):
    x = np.zeros((2, 5), np.float32)
    pool = np.ones((2, 5), np.float32)
    schedule = Schedule(np.full((1, 2), 0.5), np.ones((1, 2)), False, False)
    for weights in (np.array([[1.0], [-1.0]]), np.array([[1.0], [0.0]]),
                    np.array([[1.0], [np.nan]]), np.ones((2, 2))):
        with pytest.raises(ValueError, match="baseline_weights"):
            ChosenBaselines(pool, np.array([[0], [1]]), weights, SignOfFirstOutput(),
                            (np.float32(0.0),))
    callback = engine.CallbackEvaluator(linear_mf, None, False)
    chosen = ChosenBaselines(pool, np.array([[0], [1]]), np.ones((2, 1)), SignOfFirstOutput(),
                             (np.float32(0.0),))
    with pytest.raises(TypeError, match="baselines: chosen .* not a PAIR callback"):
        engine.integrate(callback, StraightPath(), integrate.MonteCarlo(), x, chosen, schedule)


def test_idgi_on_random_nodes_is_complete_per_baseline():
    mf = tfpath.ModelFunction(lambda v: tf.reduce_sum(tf.sin(v) * v, axis=1), target="score")
    x = np.array([[1.0, 2.0, -0.5]], np.float32)
    pool = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    base = BaselineSet(pool, np.arange(5)[None], np.full((1, 5), 0.2))
    alphas = np.random.default_rng(3).uniform(size=(2, 5))
    schedule = Schedule(np.sort(alphas, 0), np.full((2, 5), 0.5), False, False)
    res = engine.integrate(engine.ModelEvaluator(mf), StraightPath(),
                           integrate.IDGI("left", "whole"), x, base, schedule)
    f = lambda v: np.sum(np.sin(v) * v, axis=-1)
    expected_total = np.mean(f(x) - f(pool))
    assert np.isclose(res.attribution.sum() + res.residual.sum(), expected_total, atol=1e-5)


def test_auxiliary_gradients_and_row_context_from_one_forward_pass(cnn, images):
    """An evaluator returns ∇ of another class's logit (the row's context) beside ∇F."""
    from tfpath.paths.adversarial import AdversaryScore
    mf = tfpath.ModelFunction(cnn, target="logit")
    x = tf.constant(images[:3])
    ctx = {"adversary_class": tf.constant([4, 0, 2])}
    values, grads, aux = mf.evaluate(x, tf.constant([1, 1, 1]), (AdversaryScore(),), ctx)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = cnn(x)
        chosen = tf.reduce_sum(logits * tf.one_hot([4, 0, 2], 5), axis=1)
    expected = tape.gradient(chosen, x)
    np.testing.assert_allclose(aux["adversary"][0], chosen, rtol=1e-5)
    np.testing.assert_allclose(aux["adversary"][1], expected, rtol=1e-4, atol=1e-6)


def test_baseline_objects(cnn, images):
    x = images[:2]
    black = baselines.Fixed("black").resolve(x)
    white = baselines.Fixed("white", value_range=(-1.0, 1.0)).resolve(x)
    assert black.pool.max() == 0 and white.pool.min() == 1.0 and black.index.shape == (2, 1)
    noise = baselines.UniformNoise(3, (0.0, 0.5), seed=1).resolve(x)
    assert noise.pool.shape == (6,) + x.shape[1:] and 0 <= noise.pool.min() and \
        noise.pool.max() <= 0.5
    np.testing.assert_array_equal(noise.pool, baselines.UniformNoise(3, (0.0, 0.5), seed=1)
                                  .resolve(x).pool)
    pool = np.random.default_rng(0).random((7,) + x.shape[1:]).astype(np.float32)
    draws = baselines.DatasetSamples(pool, 5, seed=3).resolve(x)
    assert draws.index.shape == (2, 5) and draws.index.max() < 7
    cf = baselines.Counterfactuals(np.stack([x, x + 0.1], axis=1), weights=[1.0, 3.0]).resolve(x)
    np.testing.assert_allclose(cf.weights, [[0.25, 0.75]] * 2)
    from scipy.ndimage import gaussian_filter
    blurred = baselines.Blurred(2.0).resolve(x)
    np.testing.assert_allclose(blurred.pool[0], gaussian_filter(x[0], [2, 2, 0], mode="nearest"),
                               atol=1e-6)


@pytest.mark.parametrize("kwargs,argument", [
    (dict(baselines=np.zeros((2, 3))), "baselines"),                       # another shape
    (dict(baselines=np.zeros((0, 5))), "baselines"),                       # M = 0
    (dict(baselines=np.zeros((2, 5)), baseline_weights=[1.0, -1.0]), "baseline_weights"),
    (dict(baselines=np.zeros((2, 5)), baseline_weights=[0.0, 0.0]), "baseline_weights"),
    (dict(baselines=np.zeros((2, 5)), baseline_weights=[1.0, 2.0, 3.0]), "baseline_weights"),
    (dict(baselines=np.zeros((2, 5)), x_baseline=np.zeros(5)), "x_baseline and baselines"),
    (dict(baseline_weights=[1.0]), "baseline_weights"),
    (dict(baselines=np.full((2, 5), np.nan)), "baselines"),
])
def test_bad_baselines_name_the_argument(linear_mf, points, kwargs, argument):
    x, _ = points
    with pytest.raises((ValueError, TypeError), match=argument):
        tfpath.IntegratedGradients().GetMaskBatch(x, linear_mf, **kwargs)


def test_misspelled_keyword_names_the_method(linear_mf, points):
    with pytest.raises(TypeError, match=r"IntegratedGradients.GetMask: unexpected keyword "
                                        r"argument 'x_step'.*x_steps"):
        tfpath.IntegratedGradients().GetMask(points[0][0], linear_mf, x_step=4)


def test_per_input_context_reaches_every_row_of_every_group(linear_mf, points):
    """A path reading a per-input context tensor: each row sees its own input's value, also
    when the rows of one input are split across groups (batch_size=3)."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class ShiftedStraight(StraightPath):
        """Straight path from baseline + context["offset"] (of the row's input)."""

        def init(self, rows):
            start = rows.baseline + rows.context["offset"]
            return {"baseline": start, "diff": rows.x - start, "x": rows.x}, {}

    x, b = points
    offset = np.random.default_rng(7).normal(size=x.shape).astype(np.float32)
    base = baselines.from_array(b, x)                                     # M = 4 per input
    rule = integrate.Rule("linspace_mean")
    path = ShiftedStraight()
    res = engine.integrate(engine.ModelEvaluator(linear_mf), path, rule, x, base,
                           rule.schedule(path, 2), context={"offset": offset}, batch_size=3)
    expected = np.stack([np.mean([(xi - (bj + oi)) * W for bj in b], axis=0)
                         for xi, oi in zip(x, offset)])
    np.testing.assert_allclose(res.attribution, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("integrator", ["midpoint", "left", "trapezoid"])
def test_values_at_both_ends_are_the_models_at_each_rows_points(cnn, images, integrator):
    """F(b) per (input, baseline) and F(x) per input, for schedules without both ends (the
    engine evaluates them once per distinct point, outside the loop) and with them (read off
    the nodes): the model's own logits, class per input."""
    mf = tfpath.ModelFunction(cnn, target="logit")
    pool = np.random.default_rng(5).random((3,) + images.shape[1:]).astype(np.float32)
    classes = np.array([1, 3, 0])
    d = tfpath.IntegratedGradients().GetMaskBatchWithDetails(
        images[:3], mf, {"class_idx": classes}, x_steps=6, baselines=pool,
        integrator=integrator)
    logits_pool = cnn.predict(pool, verbose=0)
    logits_x = cnn.predict(images[:3], verbose=0)
    np.testing.assert_allclose(d.baseline_values, logits_pool[:, classes].T, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(d.end_value, logits_x[np.arange(3), classes], rtol=1e-5,
                               atol=1e-5)
